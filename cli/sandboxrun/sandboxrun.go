// Package sandboxrun is `agentos sandbox run`: decide one command with the
// repository's command rules and run it in the sandbox with the
// repository as the writable root. It is the one path of the verb and of
// the MCP server's run_command tool.
//
// It is apart from package cli, and imports only light packages, so that
// the verb can start without the rest of agentos: see takeover.go.
package sandboxrun

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sandbox"
)

// Env is what the verb needs of its command: the repository and the policy
// in force (cli's Factory, or the light path's own).
type Env interface {
	Repo(ctx context.Context) (*gitrepo.Repo, error)
	// ConfigUnchecked is the policy in force, its rules not compiled.
	ConfigUnchecked(ctx context.Context) (*config.Config, error)
}

// Opts are what `agentos sandbox run` and the MCP server's run_command
// tool give Run.
type Opts struct {
	Network  bool
	AllowTCP []string
	Timeout  time.Duration
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	// Decided, when set, sees the command rules' decision before anything
	// runs; an error from it (the decision could not be recorded) stops
	// the run.
	Decided func(cmdrule.Decision) error
	// Exit, when set, receives the command's exit code.
	Exit *int
}

// Run decides args with the repository's command rules and runs them in
// the sandbox with the repository as the writable root.
func Run(ctx context.Context, env Env, args []string, o Opts) error {
	repo, err := env.Repo(ctx)
	if err != nil {
		return err
	}
	// Only the command rules decide here (compiled, with their
	// examples, just below): compiling every gate's CEL first cost
	// about a tenth of the command's start (issue 13's figure).
	cfg, err := env.ConfigUnchecked(ctx)
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
	cmdEnv := pol.CommandEnv(os.Environ(), cfg.Exec.EnvAllow, tmp)
	look := cmdrule.PathLookup(sandbox.EnvValue(cmdEnv, "PATH"), dir)

	dec := rules.Decide(args, look)
	for _, c := range dec.Commands {
		fmt.Fprintf(o.Stderr, "rule %s: %s %s (%s)\n", c.RuleID, c.Effect, strings.Join(c.Argv, " "), c.Reason)
	}
	if o.Decided != nil {
		if err := o.Decided(dec); err != nil {
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
	if o.Timeout == 0 {
		o.Timeout, _ = time.ParseDuration(cfg.Exec.DefaultTimeout)
	}
	// stderr is where tools report a failed fetch (OfflineHint); stdout
	// stays the caller's own, a terminal included.
	stderr := sandbox.NewOutputTail(8192)
	spec := sandbox.Spec{
		Argv:      append([]string{exe}, args[1:]...),
		Dir:       dir,
		Env:       cmdEnv,
		Worktree:  root,
		ReadWrite: []string{tmp},
		Network:   o.Network,
		AllowTCP:  o.AllowTCP,
		Timeout:   o.Timeout,
		Stdin:     o.Stdin,
		Stdout:    o.Stdout,
		Stderr:    io.MultiWriter(o.Stderr, stderr),
	}
	if err := pol.Apply(&spec); err != nil {
		return err
	}
	start := time.Now()
	res, err := sandbox.Run(ctx, spec)
	if err != nil {
		return err
	}
	// Behind the seccomp filter: nothing set-id outlives the run in the
	// repository or its caches.
	if err := sandbox.RefuseSetIDSince(start, append([]string{root}, spec.ReadWrite...)...); err != nil {
		return err
	}
	if o.Exit != nil {
		*o.Exit = res.ExitCode
	}
	if res.Unconfined {
		fmt.Fprintln(o.Stderr, "warning: ran UNCONFINED (sandbox.require is false and this machine cannot confine)")
	}
	switch {
	case res.TimedOut:
		return agentos.Errorf(agentos.EFAILED, "%s killed after the %s timeout", args[0], o.Timeout)
	case res.ExitCode != 0 && len(res.LimitsHit) > 0:
		return agentos.Errorf(agentos.EFAILED, "%s exited with code %d after reaching sandbox.limits (%s)", args[0], res.ExitCode, strings.Join(res.LimitsHit, ", "))
	case res.ExitCode != 0:
		return agentos.Errorf(agentos.EFAILED, "%s exited with code %d%s", args[0], res.ExitCode, sandbox.OfflineHint(stderr.String()))
	}
	return nil
}
