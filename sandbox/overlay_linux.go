package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts ov at the host path at, in the calling process's own
// mount namespace. userxattr keeps overlayfs's marks (opaque directories)
// in user.* attributes, which an unprivileged user namespace may write;
// deletions are 0:0 character devices that overlayfs itself creates with
// the namespace's capabilities, so AgentOS never needs CAP_MKNOD.
func mountOverlay(ov Overlay, at string) error {
	for _, p := range []string{ov.Lower, ov.Upper, ov.Work} {
		// The legacy option string separates with , and :.
		if strings.ContainsAny(p, ",:\\\n") {
			return fmt.Errorf("overlay path %q contains , : or \\, which a mount option cannot carry", p)
		}
	}
	opts := "userxattr,lowerdir=" + ov.Lower + ",upperdir=" + ov.Upper + ",workdir=" + ov.Work
	if err := unix.Mount("agentos-worktree", at, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the copy-on-write worktree at %s: %v", at, err)
	}
	return nil
}

// holdView is the helper's part of OpenView: mount, confirm, then wait
// until AgentOS closes stdin. Nothing is executed.
func holdView(repF *os.File, hs helperSpec) int {
	if hs.Overlay == nil {
		return report(repF, true, "hold: no overlay given")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return report(repF, true, "mount namespace: making mounts private: %v", err)
	}
	if err := mountOverlay(*hs.Overlay, hs.Worktree); err != nil {
		return report(repF, true, "%v", err)
	}
	json.NewEncoder(repF).Encode(helperReport{Started: true})
	repF.Close()
	io.Copy(io.Discard, os.Stdin)
	return 0
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
	hs := helperSpec{Hold: true, Overlay: &ov, Worktree: at, Argv: []string{"hold"}, Env: []string{}, Limits: DefaultLimits}
	cmd, rep, err := startHelper(hs, unix.CLONE_NEWUSER|unix.CLONE_NEWNS, nil, r, io.Discard, io.Discard)
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the worktree helper: %v", err)
	}
	var hr helperReport
	derr := json.NewDecoder(rep).Decode(&hr)
	rep.Close()
	if derr != nil || !hr.Started {
		w.Close()
		cmd.Wait()
		if hr.Error == "" {
			hr.Error = fmt.Sprintf("the worktree helper exited before mounting (%v)", derr)
		}
		return nil, fmt.Errorf("%s", hr.Error)
	}
	return &View{Path: fmt.Sprintf("/proc/%d/root%s", cmd.Process.Pid, at), cmd: cmd, stdin: w}, nil
}

// Close unmounts the view (the helper exits, and its namespace with it).
func (v *View) Close() error {
	if v == nil || v.stdin == nil {
		return nil
	}
	v.stdin.Close()
	v.stdin = nil
	return v.cmd.Wait()
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
