package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
	"github.com/agentos/agentos/workspace"
)

// execute runs an admitted plan in the task's own worktree: steps, verify,
// commit, integrate. The user's working tree, index and branch are never
// touched here.
func (c *Coordinator) execute(ctx context.Context, adm *Admitted, d *Dispatched, run *agentos.Run, actor agentos.Actor) error {
	t, p := adm.task, adm.plan
	locks, err := c.holdLocks(ctx, t, p, d)
	if err != nil {
		return err
	}
	defer locks.Release(context.WithoutCancel(ctx))
	wt := run.Worktree
	if err := c.ensureCommit(ctx, t.Target, p.BaseCommit); err != nil {
		return err
	}
	// Worktrees live under a directory only the invoking user can traverse.
	if err := sandbox.PrivateDir(filepath.Dir(wt)); err != nil {
		return err
	}
	tt, err := c.openTree(ctx, t, p.BaseCommit, run)
	if err != nil {
		return err
	}
	defer tt.release()
	tmp, err := os.MkdirTemp("", "agentos-"+t.ID+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	x := &executor{c: c, task: t, plan: p, run: run, wt: wt, tt: tt, tmp: tmp, locks: locks, actor: actor}
	if tt.fallback != "" {
		// The ReviewPack says how this run's files were laid out when
		// it is not the copy-on-write way.
		if err := x.record(ctx, agentos.StepRecord{Phase: agentos.PhasePlan, Index: -1, Kind: "worktree", OK: true,
			Summary: "full git worktree (copy-on-write worktrees unavailable: " + tt.fallback + ")"}); err != nil {
			return err
		}
	}
	for i, s := range p.Steps {
		if err := x.step(ctx, i, s); err != nil {
			return err
		}
	}
	// The steps are applied: nothing after them reads a body (verify,
	// commit and integrate work from the tree and the plan's hash), so the
	// run stops holding what may be limits.file_bytes per step.
	largest := largestBody(p)
	for i := range p.Steps {
		p.Steps[i].Content, p.Steps[i].Diff = "", ""
	}
	releaseLarge(largest)
	if _, err := c.transition(ctx, t, agentos.StateVerifying, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		return err
	}
	if err := x.verify(ctx, ""); err != nil {
		return err
	}
	commit, err := c.commit(ctx, x)
	if err != nil {
		return err
	}
	return c.integrate(ctx, x, commit)
}

// executor carries one run's state through its steps.
type executor struct {
	c     *Coordinator
	task  *agentos.Task
	plan  *agentos.Plan
	run   *agentos.Run
	wt    string // where commands see the worktree
	tt    *taskTree
	tmp   string
	locks Locks
	actor agentos.Actor
	// live is the running command's output, for progress to show its
	// last line while it runs (nil between commands).
	live atomic.Pointer[tailWriter]
}

// liveLine is the last line the running command printed ("" if none).
func (x *executor) liveLine() string {
	if w := x.live.Load(); w != nil {
		return w.lastLine()
	}
	return ""
}

func (x *executor) record(ctx context.Context, r agentos.StepRecord) error {
	// The record of a step a signal stopped is written all the same.
	ctx = context.WithoutCancel(ctx)
	r.Run = x.run.ID
	r.OutputTail = x.c.redact(r.OutputTail)
	r.Summary = x.c.redact(r.Summary)
	if r.Unconfined {
		x.run.Unconfined = true
	}
	return x.c.DB.AddRecord(ctx, x.task.ID, r, agentos.System)
}

func describe(s agentos.Step) string {
	switch s.Kind {
	case agentos.StepWrite:
		return fmt.Sprintf("write %s (%d bytes)", s.Path, len(s.Content))
	case agentos.StepPatch:
		return fmt.Sprintf("patch %s (%s)", strings.Join(s.Paths, ", "), short(s.DiffHash))
	case agentos.StepDelete:
		return "delete " + s.Path
	case agentos.StepRename:
		return fmt.Sprintf("rename %s -> %s", s.From, s.To)
	case agentos.StepMkdir:
		return "mkdir " + s.Path
	case agentos.StepExec:
		return "exec " + strings.Join(s.Argv, " ")
	}
	return string(s.Kind)
}

// step runs one step with its Plan, Apply and Verify records (red line 4).
func (x *executor) step(ctx context.Context, i int, s agentos.Step) error {
	total := len(x.plan.Steps)
	what := describe(s)
	x.c.progress(ProgressEvent{Task: x.task.ID, Phase: "apply", Index: i + 1, Total: total, What: what, Output: x.liveLine})
	if err := x.record(ctx, agentos.StepRecord{Phase: agentos.PhasePlan, Index: i, Kind: string(s.Kind), Summary: what, Argv: s.Argv, OK: true}); err != nil {
		return err
	}
	start := time.Now()
	res, applyErr := x.apply(ctx, s)
	res.Phase, res.Index, res.Kind, res.Summary = agentos.PhaseApply, i, string(s.Kind), what
	res.Argv = s.Argv
	res.DurationMS = time.Since(start).Milliseconds()
	res.OK = applyErr == nil && res.ExitCode == 0
	if applyErr != nil && res.OutputTail == "" {
		res.OutputTail = agentos.ErrorMessage(applyErr)
		if res.ExitCode == 0 {
			res.ExitCode = -1
		}
	}
	if err := x.record(ctx, res); err != nil {
		return err
	}
	x.c.progress(ProgressEvent{Task: x.task.ID, Phase: "apply", Index: i + 1, Total: total, What: what, Done: true, OK: res.OK, Elapsed: time.Since(start)})
	if applyErr != nil {
		return agentos.WrapError(agentos.ErrorCode(applyErr), applyErr, "step %d (%s) failed: %s", i+1, what, agentos.ErrorMessage(applyErr))
	}
	if res.ExitCode != 0 {
		return agentos.Errorf(agentos.EFAILED, "step %d (%s) exited %d%s%s", i+1, what, res.ExitCode, failureSummary(res.OutputTail), sandbox.OfflineHint(res.OutputTail))
	}
	// Verify record: the step's postcondition holds in the worktree.
	v := agentos.StepRecord{Phase: agentos.PhaseVerify, Index: i, Kind: string(s.Kind), Summary: "postcondition of " + what}
	if err := x.postcondition(ctx, s); err != nil {
		v.OutputTail, v.ExitCode = agentos.ErrorMessage(err), 1
	} else {
		v.OK = true
	}
	if err := x.record(ctx, v); err != nil {
		return err
	}
	if !v.OK {
		return agentos.Errorf(agentos.EFAILED, "step %d (%s): postcondition failed: %s", i+1, what, v.OutputTail)
	}
	return nil
}

// writable is red line 3 at apply time plus red line 9: the path is clean,
// not protected, free of symlinks on disk, and covered by a held lock.
func (x *executor) writable(p string) error {
	cp, err := workspace.CleanWritable(p)
	if err != nil {
		return err
	}
	if cp != p {
		return agentos.Errorf(agentos.EDENIED, "path %q is not normalised", p)
	}
	host, err := x.tt.path(context.Background())
	if err != nil {
		return err
	}
	if err := workspace.NoSymlinkInPath(host, cp); err != nil {
		return err
	}
	if !x.locks.Covers(cp) {
		return agentos.Errorf(agentos.EDENIED, "no lock held on %q: refusing to write it (red line 9)", cp)
	}
	return nil
}

func (x *executor) apply(ctx context.Context, s agentos.Step) (agentos.StepRecord, error) {
	var rec agentos.StepRecord
	for _, w := range s.Writes() {
		if err := x.writable(w); err != nil {
			return rec, err
		}
	}
	host, err := x.tt.path(ctx)
	if err != nil {
		return rec, err
	}
	root, err := os.OpenRoot(host)
	if err != nil {
		return rec, err
	}
	defer root.Close()
	switch s.Kind {
	case agentos.StepWrite:
		if d := path.Dir(s.Path); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return rec, err
			}
		}
		mode := fs.FileMode(0o644)
		if fi, err := root.Stat(s.Path); err == nil {
			mode = fi.Mode().Perm()
		}
		rec.OutputDigest = sumString(s.Content)
		return rec, writeIn(root, s.Path, s.Content, mode)
	case agentos.StepMkdir:
		return rec, root.MkdirAll(s.Path, 0o755)
	case agentos.StepDelete:
		return rec, root.RemoveAll(s.Path)
	case agentos.StepRename:
		if d := path.Dir(s.To); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return rec, err
			}
		}
		return rec, renameIn(root, host, s.From, s.To)
	case agentos.StepPatch:
		// Red line 6, at the last moment: the bytes applied are the bytes planned.
		if h := sumString(s.Diff); h != s.DiffHash {
			return rec, agentos.Errorf(agentos.EDENIED, "patch hashes to %s, not the planned %s (red line 6)", h, s.DiffHash)
		}
		rec.OutputDigest = s.DiffHash
		if err := x.c.Repo.ApplyPatch(ctx, x.tt.view, x.tt.dir, []byte(s.Diff)); err != nil {
			return rec, agentos.WrapError(agentos.EFAILED, err, "patch does not apply: %v", err)
		}
		return rec, nil
	case agentos.StepExec:
		return x.exec(ctx, s.Argv, s.Exe, s.Cwd, s.Env, s.TimeoutMS, s.Network)
	}
	return rec, agentos.Errorf(agentos.EINVALID, "unknown step kind %q", s.Kind)
}

func (x *executor) postcondition(ctx context.Context, s agentos.Step) error {
	host, err := x.tt.path(ctx)
	if err != nil {
		return err
	}
	full := func(p string) string { return filepath.Join(host, filepath.FromSlash(p)) }
	switch s.Kind {
	case agentos.StepWrite:
		same, err := fileHolds(full(s.Path), s.Content)
		if err != nil {
			return err
		}
		if !same {
			return fmt.Errorf("%s does not hold the planned content", s.Path)
		}
	case agentos.StepMkdir:
		if fi, err := os.Stat(full(s.Path)); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", s.Path)
		}
	case agentos.StepDelete:
		if _, err := os.Lstat(full(s.Path)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s still exists", s.Path)
		}
	case agentos.StepRename:
		if _, err := os.Lstat(full(s.From)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s still exists", s.From)
		}
		if _, err := os.Lstat(full(s.To)); err != nil {
			return fmt.Errorf("%s does not exist", s.To)
		}
	case agentos.StepPatch:
		if err := x.c.Repo.CheckApplied(ctx, x.tt.view, x.tt.dir, []byte(s.Diff)); err != nil {
			return fmt.Errorf("the patch is not present after applying: %v", err)
		}
	case agentos.StepExec:
		// The exit status was checked; its record is the verify.
	}
	return nil
}

// verify runs the plan's checks; note says why (e.g. after a rebase).
func (x *executor) verify(ctx context.Context, note string) error {
	total := len(x.plan.Verify)
	for i, ch := range x.plan.Verify {
		what := "check " + strings.Join(ch.Argv, " ")
		if ch.Name != "" {
			what = ch.Name + ": " + strings.Join(ch.Argv, " ")
		}
		if ch.PolicyDefault {
			what += " [verify.default]"
		}
		if note != "" {
			what += " (" + note + ")"
		}
		x.c.progress(ProgressEvent{Task: x.task.ID, Phase: "verify", Index: i + 1, Total: total, What: what, Output: x.liveLine})
		start := time.Now()
		rec, err := x.exec(ctx, ch.Argv, ch.Exe, ch.Cwd, nil, ch.TimeoutMS, false)
		rec.Phase, rec.Index, rec.Kind, rec.Summary, rec.Argv = agentos.PhaseVerify, len(x.plan.Steps)+i, "check", what, ch.Argv
		rec.DurationMS = time.Since(start).Milliseconds()
		rec.OK = err == nil && rec.ExitCode == 0
		if err != nil && rec.OutputTail == "" {
			rec.OutputTail, rec.ExitCode = agentos.ErrorMessage(err), -1
		}
		if rerr := x.record(ctx, rec); rerr != nil {
			return rerr
		}
		x.c.progress(ProgressEvent{Task: x.task.ID, Phase: "verify", Index: i + 1, Total: total, What: what, Done: true, OK: rec.OK, Elapsed: time.Since(start)})
		if err != nil {
			return agentos.WrapError(agentos.EFAILED, err, "verify check %d (%s) could not run: %s", i+1, what, agentos.ErrorMessage(err))
		}
		if rec.ExitCode != 0 {
			return agentos.Errorf(agentos.EFAILED, "verify check %d (%s) failed with exit code %d%s%s", i+1, what, rec.ExitCode, failureSummary(rec.OutputTail), sandbox.OfflineHint(rec.OutputTail))
		}
	}
	return nil
}

const tailBytes = 4096

// exec runs one command through the single exec path: sandbox.Run.
func (x *executor) exec(ctx context.Context, argv []string, exe, cwd string, env map[string]string, timeoutMS int64, network bool) (agentos.StepRecord, error) {
	var rec agentos.StepRecord
	if strings.HasPrefix(exe, "./") {
		rel := strings.TrimPrefix(exe, "./")
		host, err := x.tt.path(ctx)
		if err != nil {
			return rec, err
		}
		if err := workspace.NoSymlinkInPath(host, rel); err != nil {
			return rec, err
		}
		if fi, err := os.Stat(filepath.Join(host, rel)); err != nil || fi.Mode()&0o111 == 0 {
			return rec, agentos.Errorf(agentos.EDENIED, "command %s is not an executable file in the worktree", argv[0])
		}
		exe = filepath.Join(x.wt, rel)
	} else if _, err := os.Stat(exe); err != nil {
		return rec, agentos.Errorf(agentos.EDENIED, "command %s (%s) no longer exists", argv[0], exe)
	}
	dir := x.wt
	if cwd != "" {
		dir = filepath.Join(x.wt, filepath.FromSlash(cwd))
	}
	if err := x.c.checkCommand(ctx, x.task, x.run, argv, exe, dir); err != nil {
		return rec, err
	}
	timeout := time.Duration(timeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = x.c.defaultTimeout()
	}
	out := &tailWriter{max: tailBytes, h: sha256.New()}
	x.live.Store(out)
	defer x.live.Store(nil)
	pol := x.c.confinement()
	if !strings.HasPrefix(exe, x.wt+"/") {
		exe = invocation(argv[0], exe, pol.SearchPath(x.c.Env), pol, x.wt)
	}
	spec := sandbox.Spec{
		Argv:      append([]string{exe}, argv[1:]...),
		Dir:       dir,
		Env:       x.c.commandEnv(pol, x.tmp, env),
		Worktree:  x.wt,
		ReadWrite: []string{x.tmp},
		Network:   network,
		Timeout:   timeout,
		Stdout:    out,
		Stderr:    out,
	}
	if err := pol.Apply(&spec); err != nil {
		return rec, err
	}
	ov, err := x.tt.overlay()
	if err != nil {
		return rec, err
	}
	spec.Overlay = ov
	res, err := x.c.Sandbox(ctx, spec)
	rec.ExitCode = res.ExitCode
	rec.Unconfined = res.Unconfined
	rec.OutputDigest = "sha256:" + hex.EncodeToString(out.h.Sum(nil))
	rec.OutputTail = out.String()
	if i := interruptOf(ctx); i != nil {
		// The run was stopped, not the command's own timeout: the sandbox
		// killed the command's whole tree (its namespace and cgroup).
		rec.OutputTail += "\n[agentos: killed: " + i.Reason + "]"
		if rec.ExitCode == 0 {
			rec.ExitCode = 128 + 9
		}
		return rec, agentos.WrapError(agentos.ECANCELLED, i, "%s", i.Reason)
	}
	if res.TimedOut {
		rec.OutputTail += fmt.Sprintf("\n[agentos: killed after the %s timeout]", timeout)
		if rec.ExitCode == 0 {
			rec.ExitCode = 124
		}
	}
	if err != nil {
		return rec, agentos.WrapError(agentos.ErrorCode(err), err, "%s", agentos.ErrorMessage(err))
	}
	return rec, nil
}

// confinement is the policy's sandbox settings for this repository: every
// command of a plan gets its Spec and environment from it.
func (c *Coordinator) confinement() *sandbox.Policy {
	return sandbox.NewPolicy(c.Config, c.Repo.Dir(), c.Env)
}

// commandEnv builds a command's environment from an allowlist and the
// policy's profiles (sandbox.Policy.CommandEnv): secrets in the parent's environment never reach the child.
// A step's own variables come last.
func (c *Coordinator) commandEnv(pol *sandbox.Policy, tmp string, extra map[string]string) []string {
	env := pol.CommandEnv(c.Env, c.Config.Exec.EnvAllow, tmp)
	for _, k := range sortedKeys(extra) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// fileHolds reports whether the file at name holds exactly content,
// reading it a piece at a time (a content may be as large as
// limits.file_bytes; reading the file whole would be a second copy).
func fileHolds(name, content string) (bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(f, buf)
		if n > len(content) || string(buf[:n]) != content[:n] {
			return false, nil
		}
		content = content[n:]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return len(content) == 0, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// sumString is sum of a string's bytes without copying the string: a
// step's content may be as large as limits.file_bytes.
func sumString(s string) string { return agentos.BlobHash(s) }

// writeIn is os.Root.WriteFile for a string, written as it is (WriteFile
// takes []byte, and converting a large content would copy it).
func writeIn(root *os.Root, name, data string, perm fs.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	return err
}

// tailWriter keeps a running digest of everything and the last max bytes.
// Progress reads it while the command writes, hence the lock.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
	h   hash.Hash
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.h.Write(p)
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*w.max {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	if len(b) > w.max {
		b = b[len(b)-w.max:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// lastLine is the last non-empty line written so far (a carriage return
// starts a line too, as progress bars redraw with it).
func (w *tailWriter) lastLine() string {
	w.mu.Lock()
	b := w.buf
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	s := string(b)
	w.mu.Unlock()
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i]); t != "" {
			return strings.ToValidUTF8(t, "?")
		}
	}
	return ""
}
