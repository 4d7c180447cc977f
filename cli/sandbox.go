package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/sandboxrun"
	"github.com/agentos/agentos/coordinator"
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
			rep, cache := f.sandboxReport(cmd.Context())
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
					printIdentityPlaces(f, rep)
				}
				if rep.Helper != "" {
					fmt.Fprintf(f.IO.Out, "helper: %s\n", rep.Helper)
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

// sandboxReport is the machine's sandbox report; inside a repository
// whose policy loads, with the policy's profiles (a toolchain missing on
// this machine is one line, not a failure deep inside a run) and the
// identity where this repository's runs write, each place probed on its
// own file system as a run would. cache is {cache} when a profile uses it.
func (f *Factory) sandboxReport(ctx context.Context) (rep sandbox.Report, cache string) {
	rep = sandbox.Check()
	repo, err := f.Repo(ctx)
	if err != nil {
		return rep, ""
	}
	cfg, err := f.Config(ctx)
	if err != nil {
		return rep, ""
	}
	pol := sandbox.NewPolicy(cfg, repo.Root, os.Environ())
	rep.Profiles = pol.CheckProfiles(cfg, os.Environ())
	if pol.UsesCache() {
		cache = pol.CacheDir
	}
	state := filepath.Join(repo.Root, agentos.StateDir)
	overlay := false
	if _, err := os.Stat(state); err == nil {
		overlay = coordinator.OverlayUnavailable(state, os.Environ()) == ""
	}
	return rep.ForRepository(sandbox.RunPlaces{Repo: repo.Root, StateDir: state, Overlay: overlay, Cache: cache, Identity: pol.Identity}), cache
}

// printIdentityPlaces prints where the identity was probed: each kind of
// run with the host uid its commands get, and each place with its file
// system and, for a fallback, why.
func printIdentityPlaces(f *Factory, rep sandbox.Report) {
	if rep.IdentityProbed != "" {
		fmt.Fprintf(f.IO.Out, "identity probed: %s\n", rep.IdentityProbed)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	for _, k := range rep.IdentityRuns {
		who := fmt.Sprintf("host uid %d, gid %d", k.UID, k.GID)
		if k.Dedicated {
			who += " (dedicated)"
		} else if k.UID == 0 {
			who += " (root, no capabilities)"
		}
		fmt.Fprintf(tw, "  runs: %s\t%s\twrites in %s\n", k.Runs, who, strings.Join(k.Places, ", "))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	for _, p := range rep.IdentityPlaces {
		status := "dedicated"
		switch {
		case p.Dedicated:
		case strings.Contains(rep.Identity, p.Reason):
			status = "falls back (as above)"
		default:
			status = "falls back: " + p.Reason
		}
		where := p.Path
		if p.Probed != "" {
			where += " (not there yet; probed " + p.Probed + ")"
		}
		fmt.Fprintf(tw, "  place: %s\t%s\t%s\t%s\n", p.Name, where, p.FS, status)
	}
	tw.Flush()
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
			// The verb is package sandboxrun, whose init runs it before the
			// rest of agentos initialises when the command line allows
			// (the light path); here for every other form.
			return sandboxrun.Run(cmd.Context(), f, args, sandboxrun.Opts{Network: network, AllowTCP: allowTCP, Timeout: timeout,
				Stdin: f.IO.In, Stdout: f.IO.Out, Stderr: f.IO.ErrOut})
		},
	}
	cmd.Flags().BoolVar(&network, "network", false, "allow network access for this command")
	cmd.Flags().StringArrayVar(&allowTCP, "allow-tcp", nil, "with the network off, allow TCP to this HOST:PORT only (repeatable; added to sandbox.allow_tcp)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "kill the command after this long (default: exec.default_timeout)")
	return cmd
}
