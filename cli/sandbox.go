package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/sandbox"
	"github.com/spf13/cobra"
)

func newCmdSandbox(f *Factory) *cobra.Command {
	cmd := group("sandbox", "Inspect the OS sandbox and run one command in it")
	cmd.AddCommand(newCmdSandboxCheck(f), newCmdSandboxRun(f))
	return cmd
}

func newCmdSandboxCheck(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Report which confinement features this machine supports (exit 1 if any is missing)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep := sandbox.Check()
			// Inside a repository, the policy's profiles too: a toolchain
			// missing on this machine is one line here, not a failure deep
			// inside a run.
			var cache string
			if repo, err := f.Repo(cmd.Context()); err == nil {
				if cfg, err := f.Config(cmd.Context()); err == nil {
					pol := sandbox.NewPolicy(cfg, repo.Root, os.Environ())
					rep.Profiles = pol.CheckProfiles(cfg, os.Environ())
					rep = rep.WithIdentity(pol.Identity)
					if pol.UsesCache() {
						cache = pol.CacheDir
					}
				}
			}
			if asJSON {
				enc := json.NewEncoder(f.IO.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(f.IO.Out, "%s/%s, kernel %s, Landlock ABI %d\n", rep.OS, rep.Arch, rep.Kernel, rep.LandlockABI)
				tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
				for _, ft := range rep.Features {
					status := "ok"
					if !ft.OK {
						status = "MISSING"
					}
					note := ft.Detail
					switch {
					case ft.NetworkOnly:
						note = strings.TrimSpace(note + " (needed when the network is off)")
					case ft.AllowTCPOnly:
						note = strings.TrimSpace(note + " (needed for sandbox.allow_tcp)")
					case ft.LimitsOnly && !ft.OK:
						status = "unavailable"
						note = strings.TrimSpace(note + " (a policy setting this limit is refused unless sandbox.limits.enforce is best_effort)")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", ft.Name, status, note)
				}
				for _, pt := range rep.Profiles {
					status, note := "ok", pt.Path
					if pt.Problem != "" {
						status, note = "MISSING", pt.Problem
					}
					fmt.Fprintf(tw, "profile %s: %s\t%s\t%s\n", pt.Profile, pt.Tool, status, note)
				}
				tw.Flush()
				if rep.Identity != "" {
					fmt.Fprintf(f.IO.Out, "identity: %s\n", rep.Identity)
				}
				if len(rep.Limitations) > 0 {
					fmt.Fprintln(f.IO.Out, "limitations:")
					for _, l := range rep.Limitations {
						fmt.Fprintf(f.IO.Out, "  - %s\n", l)
					}
				}
				if cache != "" {
					fmt.Fprintf(f.IO.Out, "build cache: %s (this repository and policy only)\n", cache)
				}
			}
			if missing := rep.Missing(false); len(missing) > 0 {
				return agentos.Errorf(agentos.EFAILED, "this machine cannot confine commands (missing: %s); with sandbox.require (the default) AgentOS refuses to run them", strings.Join(missing, ", "))
			}
			for _, pt := range rep.Profiles {
				if pt.Problem != "" {
					return agentos.Errorf(agentos.EFAILED, "profile %s: %s; install it, or remove it from sandbox.profiles.%s in agentos.yaml", pt.Profile, pt.Problem, pt.Profile)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func newCmdSandboxRun(f *Factory) *cobra.Command {
	var network bool
	var allowTCP []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run [--network | --allow-tcp HOST:PORT...] -- CMD [ARGS...]",
		Short: "Run one command under this repository's command rules and sandbox (the repository is the writable root)",
		Long: "Decides the command with the rules in agentos.yaml (commands.allow, commands.rules), then runs it in the sandbox " +
			"with the repository as the writable root (.git, .agentos and agentos.yaml stay read-only), a private temp dir, and " +
			"the policy's environment allowlist. Useful to debug rules and sandbox settings. A non-zero exit of the command is an error (exit 1).",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("usage: %s -- CMD [ARGS...]", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandboxRun(cmd.Context(), f, args, sandboxRunOpts{network: network, allowTCP: allowTCP, timeout: timeout,
				stdin: f.IO.In, stdout: f.IO.Out, stderr: f.IO.ErrOut})
		},
	}
	cmd.Flags().BoolVar(&network, "network", false, "allow network access for this command")
	cmd.Flags().StringArrayVar(&allowTCP, "allow-tcp", nil, "with the network off, allow TCP to this HOST:PORT only (repeatable; added to sandbox.allow_tcp)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "kill the command after this long (default: exec.default_timeout)")
	return cmd
}

// sandboxRunOpts are what `agentos sandbox run` and the MCP server's
// run_command tool give sandboxRun.
type sandboxRunOpts struct {
	network  bool
	allowTCP []string
	timeout  time.Duration
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	// decided, when set, sees the command rules' decision before anything
	// runs; an error from it (the decision could not be recorded) stops
	// the run.
	decided func(cmdrule.Decision) error
	// exit, when set, receives the command's exit code.
	exit *int
}

// sandboxRun decides args with the repository's command rules and runs
// them in the sandbox with the repository as the writable root: the one
// path of `agentos sandbox run` and of the MCP server's run_command.
func sandboxRun(ctx context.Context, f *Factory, args []string, o sandboxRunOpts) error {
	repo, err := f.Repo(ctx)
	if err != nil {
		return err
	}
	// Only the command rules decide here (compiled, with their
	// examples, just below): compiling every gate's CEL first cost
	// about a tenth of the command's start (issue 13's figure).
	cfg, err := f.ConfigUnchecked(ctx)
	if err != nil {
		return err
	}
	rules, err := cmdrule.New(cfg.Commands)
	if err != nil {
		return err
	}
	root := repo.Root
	dir := root
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(root, wd); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			dir = wd
		}
	}
	tmp, err := os.MkdirTemp("", "agentos-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pol := sandbox.NewPolicy(cfg, root, os.Environ())
	env := pol.CommandEnv(os.Environ(), cfg.Exec.EnvAllow, tmp)
	look := cmdrule.PathLookup(sandbox.EnvValue(env, "PATH"), dir)

	dec := rules.Decide(args, look)
	for _, c := range dec.Commands {
		fmt.Fprintf(o.stderr, "rule %s: %s %s (%s)\n", c.RuleID, c.Effect, strings.Join(c.Argv, " "), c.Reason)
	}
	if o.decided != nil {
		if err := o.decided(dec); err != nil {
			return err
		}
	}
	switch dec.Effect {
	case cmdrule.Deny:
		return agentos.Errorf(agentos.EDENIED, "command denied by rule %s: %s", dec.RuleID, dec.Reason)
	case cmdrule.Approve:
		return agentos.Errorf(agentos.EDENIED, "command needs a human approval (rule %s: %s); run it as a plan step instead", dec.RuleID, dec.Reason)
	}
	exe, err := look(args[0])
	if err != nil {
		return agentos.Errorf(agentos.ENOTFOUND, "%s: no such executable", args[0])
	}
	if err := pol.Visible(exe, root); err != nil {
		return agentos.WrapError(agentos.EDENIED, err, "command %s: %s", args[0], agentos.ErrorMessage(err))
	}
	if o.timeout == 0 {
		o.timeout, _ = time.ParseDuration(cfg.Exec.DefaultTimeout)
	}
	// stderr is where tools report a failed fetch (OfflineHint); stdout
	// stays the caller's own, a terminal included.
	stderr := sandbox.NewOutputTail(8192)
	spec := sandbox.Spec{
		Argv:      append([]string{exe}, args[1:]...),
		Dir:       dir,
		Env:       env,
		Worktree:  root,
		ReadWrite: []string{tmp},
		Network:   o.network,
		AllowTCP:  o.allowTCP,
		Timeout:   o.timeout,
		Stdin:     o.stdin,
		Stdout:    o.stdout,
		Stderr:    io.MultiWriter(o.stderr, stderr),
	}
	if err := pol.Apply(&spec); err != nil {
		return err
	}
	res, err := sandbox.Run(ctx, spec)
	if err != nil {
		return err
	}
	// Behind the seccomp filter: nothing set-id outlives the run in
	// the repository or its caches.
	if err := sandbox.RefuseSetID(append([]string{root}, spec.ReadWrite...)...); err != nil {
		return err
	}
	if o.exit != nil {
		*o.exit = res.ExitCode
	}
	if res.Unconfined {
		fmt.Fprintln(o.stderr, "warning: ran UNCONFINED (sandbox.require is false and this machine cannot confine)")
	}
	switch {
	case res.TimedOut:
		return agentos.Errorf(agentos.EFAILED, "%s killed after the %s o.timeout", args[0], o.timeout)
	case res.ExitCode != 0 && len(res.LimitsHit) > 0:
		return agentos.Errorf(agentos.EFAILED, "%s exited with code %d after reaching sandbox.limits (%s)", args[0], res.ExitCode, strings.Join(res.LimitsHit, ", "))
	case res.ExitCode != 0:
		return agentos.Errorf(agentos.EFAILED, "%s exited with code %d%s", args[0], res.ExitCode, sandbox.OfflineHint(stderr.String()))
	}
	return nil
}
