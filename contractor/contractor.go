// Package contractor runs agent CLIs (Claude Code, Codex, OpenCode, or any
// custom program with the same contract) as contractors: on a scratch git
// worktree of the task, never the user's tree, inside the AgentOS sandbox,
// with their own approvals off, a fresh home outside the worktree, and every
// tool call they attempt sent to AgentOS's hook, decided by the command and
// path rules, and recorded. When the contractor exits, what it changed
// becomes the patch steps of a Plan, which the normal pipeline then gates
// like any other plan. Its exit status is not trusted: a contractor run is
// judged by its diff and by the decisions AgentOS recorded.
package contractor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sandbox"
)

// Spec says which contractor to run on what.
type Spec struct {
	// Name: claude, codex, opencode or custom.
	Name string
	// Repo is the repository root; Base the commit the scratch worktree starts at.
	Repo string
	Base string
	// Prompt is the task for the contractor (request and intent, in words).
	Prompt   string
	IntentID string
	// Argv overrides the default command line ({prompt}, {worktree},
	// {settings} are replaced); required for custom. Argv[0] is looked up in
	// PATH (of Getenv) when not absolute.
	Argv []string
	// Env is added to the contractor's environment; EnvPass names variables
	// copied from Getenv (API keys); PATH is always passed.
	Env     map[string]string
	EnvPass []string
	Getenv  func(string) string
	// Rules decide every tool call (the worktree is filled in by Run).
	Rules Rules
	// HookArgv is the hook program; default: this executable, "hook",
	// "claude" (or "codex" for Codex, whose answer format differs).
	HookArgv []string
	// StateDir holds the run's scratch worktree, home and config (e.g.
	// .agentos/contractors); it must be outside the repository's tree.
	StateDir string
	// Network lets the contractor reach the network (the host's, all of
	// it). Prefer AllowTCP.
	Network bool
	// AllowTCP, when set, lets the contractor reach these destinations
	// ("host:port": its model endpoint) and nothing else; Network is then
	// ignored. See sandbox.Spec.AllowTCP.
	AllowTCP []string
	// Require refuses to run when the sandbox cannot confine (policy).
	Require bool
	// ReadOnly are extra readable paths (the contractor's installation).
	ReadOnly []string
	// Policy, when set, gives the contractor's commands what the
	// repository's policy gives every command: the profiles' toolchains,
	// caches, variables and PATH, the hidden credentials and the limits.
	Policy  *sandbox.Policy
	Timeout time.Duration
	// Transcript receives the contractor's stdout and stderr (may be nil).
	Transcript io.Writer
	// Keep leaves the scratch worktree in place (for inspection).
	Keep bool
	// OnUsage, when set, receives every usage report the contractor prints
	// as it prints it (contractor/usage.go), Model naming the model where
	// the CLI does not. An error stops the contractor at once: Run returns
	// it and collects nothing.
	OnUsage func(agentos.ModelUsage) error
	Model   string
	// Layer, when set, is the contractor's worktree instead of a scratch
	// git worktree: a copy-on-write layer of its own over a checkout of
	// Base shared with the tasks on it, mounted in the sandbox.
	Layer *Layer
	// Terminal, when set, makes the run a person's interactive session
	// (package session): the CLI starts with its interactive command line
	// (Args appended) on this terminal (a pty's follower, which becomes
	// its stdin, stdout, stderr and controlling terminal), calls that need
	// a person go to the CLI's own prompt, and there is no timeout.
	Terminal *os.File
	// Args are the person's extra arguments for the interactive CLI.
	Args []string
	// Seed, when set, prepares the run's fresh home before the CLI starts
	// (the person's login and onboarding state for the CLI); worktree is
	// the directory the CLI will see as its working tree.
	Seed func(home, worktree string) error
	// Stop, when closed, ends the CLI early (a checkpoint the person asked
	// for): what it changed so far is collected as on a normal exit.
	Stop <-chan struct{}
	// Ended, when set, is called once the CLI has exited, before its
	// changes are collected (a session hands the terminal back).
	Ended func()
}

// interactive: a person's session on a terminal, not a headless run.
func (s Spec) interactive() bool { return s.Terminal != nil }

// Layer is a contractor's copy-on-write worktree: Lower is a checkout of
// Spec.Base that nothing writes while the contractor runs; the layer over
// it (a directory in the run's directory) receives everything it writes,
// and Collect turns that layer (upper, with work as overlayfs's scratch
// directory) into patch steps against Base.
type Layer struct {
	Lower   string
	Collect func(ctx context.Context, upper, work string) ([]agentos.Step, error)
}

// network: the whole network only when no allowlist narrows it.
func (s Spec) network() bool { return s.Network && len(s.AllowTCP) == 0 }

// sandboxMissing names what the sandbox lacks to confine this contractor.
func (s Spec) sandboxMissing() []string {
	if !s.network() && len(s.AllowTCP) > 0 {
		return sandbox.Check().MissingAllowTCP()
	}
	return sandbox.Check().Missing(s.network())
}

// Command is one command the contractor tried to run.
type Command struct {
	Command string `json:"command"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// Result is what the contractor left.
type Result struct {
	// Steps are patch steps, one per changed file (a rename is one step with
	// both paths), with DiffHash = canonjson.Sum(diff).
	Steps []agentos.Step `json:"steps"`
	// Commands are the shell commands it attempted, allowed or not.
	Commands []Command `json:"commands"`
	// Decisions are every hook decision, in order.
	Decisions  []Decision `json:"decisions"`
	ExitCode   int        `json:"exit_code"`
	DurationMS int64      `json:"duration_ms"`
	TimedOut   bool       `json:"timed_out"`
	Unconfined bool       `json:"unconfined"`
	// Worktree is the scratch worktree (removed unless Spec.Keep).
	Worktree string `json:"worktree"`
}

// Run runs the contractor and turns what it changed into patch steps. The
// user's tree is never touched: the contractor works on a scratch worktree
// that is removed afterwards (unless Keep).
func Run(ctx context.Context, spec Spec) (Result, error) {
	var res Result
	if spec.Getenv == nil {
		spec.Getenv = os.Getenv
	}
	k, ok := kinds[spec.Name]
	if !ok {
		return res, agentos.Errorf(agentos.EINVALID, "unknown contractor %q: use claude, codex, opencode or custom", spec.Name)
	}
	if spec.Name == "custom" && len(spec.Argv) == 0 {
		return res, agentos.Errorf(agentos.EINVALID, "the custom contractor needs planner.contractor.argv in agentos.yaml")
	}
	if spec.StateDir == "" || spec.Repo == "" || spec.Base == "" {
		return res, agentos.Errorf(agentos.EINTERNAL, "contractor.Run: StateDir, Repo and Base are required")
	}
	// Scratch worktrees hold what the contractor produced: only the
	// invoking user may traverse them.
	if err := sandbox.PrivateDir(spec.StateDir); err != nil {
		return res, err
	}
	runDir, err := os.MkdirTemp(spec.StateDir, spec.Name+"-")
	if err != nil {
		return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot create a contractor run directory: %v", err)
	}
	d := dirs{
		Worktree: filepath.Join(runDir, "wt"),
		Home:     filepath.Join(runDir, "home"),
		Tmp:      filepath.Join(runDir, "tmp"),
		Config:   filepath.Join(runDir, "cfg"),
	}
	for _, p := range []string{d.Home, d.Tmp, d.Config} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot create %s: %v", p, err)
		}
	}
	// A layer costs what the contractor changes; a scratch worktree is a
	// whole checkout.
	var overlay *sandbox.Overlay
	if spec.Layer != nil {
		overlay = &sandbox.Overlay{Lower: spec.Layer.Lower, Upper: d.Worktree, Work: filepath.Join(runDir, "work")}
		for _, p := range []string{overlay.Upper, overlay.Work} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the contractor's layer at %s: %v", p, err)
			}
		}
	} else if _, err := gitrepo.GitIn(ctx, spec.Repo, nil, "worktree", "add", "--detach", "--quiet", d.Worktree, spec.Base); err != nil {
		return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the contractor's scratch worktree at %s: %v", d.Worktree, err)
	}
	res.Worktree = d.Worktree
	if spec.interactive() {
		spec.Rules.Session = true
	}
	defer func() {
		if !spec.Keep {
			if overlay != nil {
				sandbox.RemoveLayer(overlay.Work)
			} else {
				gitrepo.GitIn(context.WithoutCancel(ctx), spec.Repo, nil, "worktree", "remove", "--force", d.Worktree)
			}
			os.RemoveAll(runDir)
		}
	}()
	if real, err := filepath.EvalSymlinks(d.Worktree); err == nil {
		d.Worktree = real
	}
	spec.Rules.Worktree = d.Worktree

	// The hook socket lives in its own short directory (unix socket paths
	// are limited to 108 bytes), outside every writable root.
	sockDir, err := os.MkdirTemp("", "agentos-hook-")
	if err != nil {
		return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the hook socket directory: %v", err)
	}
	defer os.RemoveAll(sockDir)
	d.Socket = filepath.Join(sockDir, "s")
	srv, err := startHookServer(d.Socket, spec.Rules)
	if err != nil {
		return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot start the hook server: %v", err)
	}
	decisionsDone := false
	defer func() {
		if !decisionsDone {
			srv.close()
		}
	}()

	hook := spec.HookArgv
	if len(hook) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return res, agentos.WrapError(agentos.EINTERNAL, err, "cannot find the agentos executable for the hook: %v", err)
		}
		proto := ProtocolClaude
		if spec.Name == "codex" {
			proto = ProtocolCodex
		}
		hook = []string{exe, "hook", string(proto)}
	}
	hook = append(slices.Clone(hook), "--socket", d.Socket)

	setup, err := k.setup(spec, d, hook)
	if err != nil {
		return res, err
	}
	if spec.Seed != nil {
		if err := spec.Seed(d.Home, d.Worktree); err != nil {
			return res, err
		}
	}
	argv := spec.Argv
	if len(argv) == 0 {
		argv = setup.argv
	}
	if spec.interactive() {
		argv = append(slices.Clone(argv), spec.Args...)
	}
	argv = expand(argv, map[string]string{"{prompt}": spec.Prompt, "{worktree}": d.Worktree, "{settings}": setup.settings})
	exe, err := lookPath(argv[0], spec.Getenv("PATH"))
	if err != nil {
		return res, agentos.Errorf(agentos.ENOTFOUND, "contractor %s: %s not found in PATH: install it (see docs/planners.md) or set planner.contractor.argv", spec.Name, argv[0])
	}
	argv[0] = exe

	path := spec.Getenv("PATH")
	if spec.Policy != nil {
		path = spec.Policy.SearchPath([]string{"PATH=" + path})
	}
	env := []string{"HOME=" + d.Home, "TMPDIR=" + d.Tmp, "PATH=" + path, "LANG=C.UTF-8",
		"AGENTOS_WORKTREE=" + d.Worktree, "AGENTOS_HOOK=" + shellJoin(hook), "AGENTOS_PROMPT=" + spec.Prompt}
	if spec.Policy != nil {
		env = append(env, spec.Policy.Env...)
	}
	for kv, v := range setup.env {
		env = append(env, kv+"="+v)
	}
	for _, name := range spec.EnvPass {
		if v := spec.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	for kv, v := range spec.Env {
		env = append(env, kv+"="+v)
	}
	// One value per name: the last given (a person's locale replaces the
	// default rather than sitting beside it), except the names AgentOS
	// itself sets (PATH, HOME, TMPDIR), whose first value, AgentOS's, stays.
	seen := map[string]int{}
	var dedup []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[name]; ok {
			if !agentos.ReservedEnv(name) {
				dedup[i] = kv
			}
			continue
		}
		seen[name] = len(dedup)
		dedup = append(dedup, kv)
	}
	env = dedup
	slices.Sort(env)

	out := spec.Transcript
	if out == nil {
		out = io.Discard
	}
	// The contractor sees the files it runs, not the directories around
	// them (the agentos binary's directory may be a home directory holding
	// ~/.ssh): the CLI and the hook program themselves, and for an npm CLI
	// its package with the packages it depends on.
	readOnly := installFiles(exe)
	readOnly = append(readOnly, installFiles(hook[0])...)
	readOnly = append(readOnly, spec.ReadOnly...)
	stdout, stderr := out, out
	runCtx := ctx
	var usage *usageReader
	if spec.OnUsage != nil {
		c, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		runCtx = c
		usage = newUsageReader(spec.Name, spec.Model, func(u agentos.ModelUsage) error {
			err := spec.OnUsage(u)
			if err != nil {
				cancel(err)
			}
			return err
		})
		lw := &lockedWriter{w: out}
		stdout, stderr = io.MultiWriter(lw, usage), lw
	}
	sspec := sandbox.Spec{
		Argv:      argv,
		Dir:       d.Worktree,
		Env:       env,
		Worktree:  d.Worktree,
		ReadWrite: []string{d.Home, d.Tmp},
		ReadOnly:  readOnly,
		// Its configuration and the hook socket are AgentOS's files made
		// for it: readable (and the socket connectable) by the sandbox's
		// dedicated uid too.
		ReadOnlyOwned: []string{d.Config, sockDir},
		Network:       spec.network(),
		AllowTCP:      spec.AllowTCP,
		Require:       spec.Require,
		Timeout:       spec.Timeout,
		Stdin:         bytes.NewReader(nil),
		Stdout:        stdout,
		Stderr:        stderr,
	}
	if spec.interactive() {
		sspec.Stdin, sspec.Stdout, sspec.Stderr, sspec.Terminal, sspec.Timeout = spec.Terminal, spec.Terminal, spec.Terminal, true, 0
	}
	var sres sandbox.Result
	if spec.Policy != nil {
		err = spec.Policy.ApplyFiles(&sspec)
	}
	if overlay != nil {
		sspec.Overlay = overlay
		overlay.Upper = d.Worktree // as resolved
	}
	// A stop the person asked for ends the CLI (its whole tree) like a
	// timeout would, but what it changed is still collected.
	runCtx, stopRun := context.WithCancel(runCtx) // within a budget's stop (OnUsage)
	defer stopRun()
	stopped := make(chan struct{})
	if spec.Stop != nil {
		go func() {
			select {
			case <-spec.Stop:
				close(stopped)
				stopRun()
			case <-runCtx.Done():
			}
		}()
	}
	if err == nil {
		sres, err = sandbox.Run(runCtx, sspec)
	}
	if spec.Ended != nil {
		spec.Ended()
	}
	select {
	case <-stopped:
		if ctx.Err() == nil {
			sres.TimedOut = false
		}
	default:
	}
	res.Decisions = srv.close()
	decisionsDone = true
	for _, dc := range res.Decisions {
		if dc.Tool == "Bash" {
			res.Commands = append(res.Commands, Command{Command: dc.Command, Allowed: dc.Allow, Reason: dc.Reason})
		}
	}
	res.ExitCode, res.DurationMS, res.TimedOut, res.Unconfined = sres.ExitCode, sres.Duration.Milliseconds(), sres.TimedOut, sres.Unconfined
	if usage != nil {
		if uerr := usage.stopErr(); uerr != nil {
			// Stopped on a usage report (a budget): nothing it changed is used.
			return res, uerr
		}
	}
	if err != nil {
		return res, agentos.WrapError(agentos.EFAILED, err, "contractor %s could not run: %v", spec.Name, err)
	}
	if sres.TimedOut {
		return res, agentos.Errorf(agentos.EFAILED, "contractor %s timed out after %s; nothing it changed is used (raise planner.contractor.timeout)", spec.Name, spec.Timeout)
	}
	if overlay != nil {
		if res.Steps, err = spec.Layer.Collect(ctx, overlay.Upper, overlay.Work); err != nil {
			return res, err
		}
		for i := range res.Steps {
			res.Steps[i].Rationale = "contractor " + spec.Name + " " + res.Steps[i].Rationale
		}
		return res, nil
	}
	res.Steps, err = Changes(ctx, d.Worktree, spec.Base, spec.IntentID, spec.Name)
	if err != nil {
		return res, err
	}
	return res, nil
}

// Changes turns everything that differs in worktree from base (edits, new,
// deleted, renamed and binary files, staged or not) into patch steps, one
// per file, each with its diff as `git diff --binary` prints it and
// DiffHash = canonjson.Sum(diff).
func Changes(ctx context.Context, worktree, base, intentID, who string) ([]agentos.Step, error) {
	if _, err := gitrepo.GitIn(ctx, worktree, nil, "add", "--all", "--", "."); err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot collect the contractor's changes: %v", err)
	}
	tree, err := gitrepo.GitIn(ctx, worktree, nil, "write-tree")
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot collect the contractor's changes: %v", err)
	}
	steps, err := gitrepo.TreeStepsIn(ctx, worktree, base, strings.TrimSpace(tree), intentID)
	for i := range steps {
		steps[i].Rationale = fmt.Sprintf("contractor %s %s", who, steps[i].Rationale)
	}
	return steps, err
}

type dirs struct {
	Worktree, Home, Tmp, Config, Socket string
}

type setupResult struct {
	argv     []string
	env      map[string]string
	settings string
}

type kind struct {
	setup func(spec Spec, d dirs, hook []string) (setupResult, error)
}

var kinds = map[string]kind{
	"claude":   {setupClaude},
	"codex":    {setupCodex},
	"opencode": {setupOpenCode},
	"custom":   {setupCustom},
}

func expand(argv []string, vars map[string]string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		for k, v := range vars {
			a = strings.ReplaceAll(a, k, v)
		}
		out[i] = a
	}
	return out
}

func lookPath(name, pathEnv string) (string, error) {
	if filepath.IsAbs(name) {
		if fi, err := os.Stat(name); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return name, nil
		}
		return "", os.ErrNotExist
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o444)
}

// installFiles are the paths that make exe runnable inside the sandbox: exe
// itself (a symlink is recreated there, so its target too) and, when the
// target lies in an npm package, that package's directory and those of its
// dependencies, optional ones included (an npm launcher runs its platform
// package: @openai/codex-linux-x64, opencode-linux-x64), found in the same
// node_modules the way node resolves them.
func installFiles(exe string) []string {
	out := []string{exe}
	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return out
	}
	if real != exe {
		out = append(out, real)
	}
	const nm = string(filepath.Separator) + "node_modules" + string(filepath.Separator)
	i := strings.LastIndex(real, nm)
	if i < 0 {
		return out
	}
	root := real[:i+len(nm)-1]
	rest := strings.Split(real[i+len(nm):], string(filepath.Separator))
	name := rest[0]
	if strings.HasPrefix(name, "@") && len(rest) > 1 {
		name += "/" + rest[1]
	}
	seen := map[string]bool{}
	var walk func(pkg string)
	walk = func(pkg string) {
		dir := filepath.Join(root, filepath.FromSlash(pkg))
		if seen[pkg] || len(seen) > 500 {
			return
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return
		}
		seen[pkg] = true
		out = append(out, dir)
		var manifest struct {
			Dependencies         map[string]string `json:"dependencies"`
			OptionalDependencies map[string]string `json:"optionalDependencies"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil && json.Unmarshal(b, &manifest) == nil {
			for _, deps := range []map[string]string{manifest.Dependencies, manifest.OptionalDependencies} {
				for _, dep := range slices.Sorted(maps.Keys(deps)) {
					if !strings.Contains(dep, "..") {
						walk(dep)
					}
				}
			}
		}
	}
	walk(name)
	return out
}
