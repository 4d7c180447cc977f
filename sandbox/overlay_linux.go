package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agentos/agentos/sandbox/internal/helper"

	"golang.org/x/sys/unix"
)

// ViewExitError is a program run in a view that exited non-zero.
type ViewExitError struct {
	Code   int
	Stderr string
}

func (e *ViewExitError) Error() string {
	return fmt.Sprintf("exit status %d: %s", e.Code, strings.TrimSpace(e.Stderr))
}

// Run runs argv in the view's namespace, where the worktree's own path
// (the at of OpenView) is the view: for programs such as git that resolve
// their working directory. A non-zero exit is a *ViewExitError.
func (v *View) Run(ctx context.Context, dir string, env []string, stdin []byte, argv ...string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stdin == nil {
		return "", fmt.Errorf("the view is closed")
	}
	if err := json.NewEncoder(v.stdin).Encode(helper.ViewRequest{Argv: argv, Dir: dir, Env: env, Stdin: stdin}); err != nil {
		return "", fmt.Errorf("the worktree helper is gone: %v", err)
	}
	var resp helper.ViewResponse
	if err := v.resp.Decode(&resp); err != nil {
		return "", fmt.Errorf("the worktree helper is gone: %v", err)
	}
	if resp.Error != "" {
		return string(resp.Stdout), fmt.Errorf("%s", resp.Error)
	}
	if resp.Exit != 0 {
		return string(resp.Stdout), &ViewExitError{Code: resp.Exit, Stderr: resp.Stderr}
	}
	return string(resp.Stdout), nil
}

// View is a copy-on-write worktree mounted for AgentOS's own writes (write,
// patch, delete, rename, mkdir steps and their postconditions): Path is
// the mounted worktree as this process sees it, through the holding
// helper's /proc/PID/root. What is written there lands in Overlay.Upper
// exactly as a command's writes do, deletions as overlayfs's own whiteouts.
// Close it before anything else mounts the same layer.
type View struct {
	Path  string
	cmd   *exec.Cmd
	stdin *os.File
	rep   *os.File
	resp  *json.Decoder
	mu    sync.Mutex
}

// OpenView mounts ov at the host path at inside a new user and mount
// namespace held by a helper process, and returns the view.
func OpenView(ctx context.Context, ov Overlay, at string) (*View, error) {
	if disabledForTest["overlay"] {
		return nil, fmt.Errorf("overlay worktrees disabled by a test")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	hs := helperSpec{Hold: true, Overlay: (*helper.Overlay)(&ov), Worktree: at, Argv: []string{"hold"}, Env: []string{}, Limits: helperLimits(DefaultLimits)}
	cmd, rep, err := startHelper(hs, unix.CLONE_NEWUSER|unix.CLONE_NEWNS, nil, r, io.Discard, io.Discard)
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the worktree helper: %v", err)
	}
	var hr helperReport
	dec := json.NewDecoder(rep)
	derr := dec.Decode(&hr)
	if derr != nil || !hr.Started {
		rep.Close()
		w.Close()
		cmd.Wait()
		if hr.Error == "" {
			hr.Error = fmt.Sprintf("the worktree helper exited before mounting (%v)", derr)
		}
		return nil, fmt.Errorf("%s", hr.Error)
	}
	return &View{Path: fmt.Sprintf("/proc/%d/root%s", cmd.Process.Pid, at), cmd: cmd, stdin: w, rep: rep, resp: dec}, nil
}

// Close unmounts the view (the helper exits, and its namespace with it).
func (v *View) Close() error {
	if v == nil || v.stdin == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stdin.Close()
	v.stdin = nil
	err := v.cmd.Wait()
	v.rep.Close()
	return err
}

// OverlayCheck reports whether copy-on-write worktrees work with layers
// under dir (which must exist): it mounts one, deletes, replaces a
// directory and writes through it, and checks what landed in the upper
// layer.
func OverlayCheck(dir string) error {
	if disabledForTest["overlay"] {
		return fmt.Errorf("disabled by a test")
	}
	tmp, err := os.MkdirTemp(dir, ".overlay-probe-")
	if err != nil {
		return err
	}
	defer RemoveLayer(tmp)
	ov := Overlay{Lower: filepath.Join(tmp, "lower"), Upper: filepath.Join(tmp, "upper"), Work: filepath.Join(tmp, "work")}
	for _, d := range []string{ov.Lower + "/d", ov.Upper, ov.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	os.WriteFile(ov.Lower+"/f", []byte("f"), 0o644)
	os.WriteFile(ov.Lower+"/d/g", []byte("g"), 0o644)
	v, err := OpenView(context.Background(), ov, ov.Upper)
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return os.Remove(v.Path + "/f") },
		func() error { return os.RemoveAll(v.Path + "/d") },
		func() error { return os.Mkdir(v.Path+"/d", 0o755) },
		func() error { return os.WriteFile(v.Path+"/d/h", []byte("h"), 0o644) },
	}
	for _, s := range steps {
		if err = s(); err != nil {
			break
		}
	}
	if cerr := v.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("worktree helper: %v", cerr)
	}
	if err != nil {
		return fmt.Errorf("writing through the overlay: %v", err)
	}
	if !IsWhiteout(ov.Upper + "/f") {
		return fmt.Errorf("a deletion did not leave a whiteout in the upper layer")
	}
	if !IsOpaque(ov.Upper + "/d") {
		return fmt.Errorf("a replaced directory is not marked opaque in the upper layer (user xattrs unsupported on this filesystem?)")
	}
	return nil
}

// IsWhiteout reports whether p (in an upper layer) marks a deletion.
func IsWhiteout(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// IsOpaque reports whether the upper-layer directory p hides everything
// below it in the lower layer.
func IsOpaque(p string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(p, "user.overlay.opaque", buf)
	return err == nil && n > 0 && buf[0] == 'y'
}

// Confinable reports whether commands can run fully confined here, the
// TCP allowlist included, judging by the static checks (Landlock,
// seccomp): a copy-on-write worktree is visible only inside the sandbox.
func Confinable() bool {
	return len((Report{Features: staticFeatures()}).missing(false, true)) == 0
}

// KernelRelease is the running kernel's release.
func KernelRelease() string {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return ""
	}
	return string(bytes.TrimRight(uts.Release[:], "\x00"))
}
