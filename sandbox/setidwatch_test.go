//go:build linux

package sandbox_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
	"golang.org/x/sys/unix"
)

// SetIDWatch finds what a run made set-id anywhere in a large tree without
// walking it afterwards: every way a mode can change during the run is
// seen (here done from outside a sandbox, as a command that got past the
// seccomp filter would), and each file's bits are cleared on the host.
func TestSetIDWatchFindsWhatTheRunTouched(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	for _, d := range []string{"a/b/c", "d", ".git/objects", "moved-later"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"a/b/c/old", "d/fd", "d/renamed", "moved-later/inside", ".git/objects/x"} {
		must(t, os.WriteFile(filepath.Join(root, f), []byte("x"), 0o755))
	}
	outside := filepath.Join(t.TempDir(), "newdir")
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "suid"), []byte("x"), 0o755))
	must(t, os.Chmod(filepath.Join(outside, "suid"), 0o755|fs.ModeSetuid))

	w := sandbox.WatchSetID(root, tmp)
	defer w.Close()
	setid := func(p string) { must(t, os.Chmod(p, 0o755|fs.ModeSetuid|fs.ModeSetgid)) }
	setid(filepath.Join(root, "a/b/c/old")) // an existing file, deep down
	f, err := os.Open(filepath.Join(root, "d/fd"))
	must(t, err)
	must(t, f.Chmod(0o755|fs.ModeSetuid)) // through a descriptor
	f.Close()
	setid(filepath.Join(root, "d/renamed"))
	must(t, os.Rename(filepath.Join(root, "d/renamed"), filepath.Join(root, "a/renamed2")))
	setid(filepath.Join(root, "moved-later/inside"))
	must(t, os.Rename(filepath.Join(root, "moved-later"), filepath.Join(root, "moved-now")))
	must(t, os.MkdirAll(filepath.Join(root, "new/deeper"), 0o755)) // a new tree
	must(t, os.WriteFile(filepath.Join(root, "new/deeper/f"), []byte("x"), 0o755))
	setid(filepath.Join(root, "new/deeper/f"))
	must(t, os.MkdirAll(filepath.Join(root, "sub/.git"), 0o755)) // a .git of its own
	must(t, os.WriteFile(filepath.Join(root, "sub/.git/hook"), []byte("x"), 0o755))
	setid(filepath.Join(root, "sub/.git/hook"))
	must(t, os.Rename(outside, filepath.Join(tmp, "in"))) // moved in whole
	must(t, os.WriteFile(filepath.Join(tmp, "t"), []byte("x"), 0o755))
	setid(filepath.Join(tmp, "t"))

	err = w.Refuse()
	if agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("Refuse = %v, want denied", err)
	}
	for _, p := range []string{
		filepath.Join(root, "a/b/c/old"), filepath.Join(root, "d/fd"), filepath.Join(root, "a/renamed2"),
		filepath.Join(root, "moved-now/inside"), filepath.Join(root, "new/deeper/f"), filepath.Join(root, "sub/.git/hook"),
		filepath.Join(tmp, "in/suid"), filepath.Join(tmp, "t"),
	} {
		st, err := os.Lstat(p)
		must(t, err)
		if st.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s kept its set-id bits: %v", p, st.Mode())
		}
	}
	if n := strings.Count(err.Error(), root) + strings.Count(err.Error(), tmp) + strings.Count(err.Error(), "more"); n < 5 {
		t.Errorf("the refusal names too little: %v", err)
	}
}

// A device node or a file capability made during the run is found too
// (where this test may make them: as root).
func TestSetIDWatchFindsDevicesAndCapabilities(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making device nodes and file capabilities needs root")
	}
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "d/cap"), []byte("x"), 0o755))
	w := sandbox.WatchSetID(root)
	defer w.Close()
	must(t, unix.Mknod(filepath.Join(root, "d/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	// VFS_CAP_REVISION_2 with CAP_NET_RAW permitted.
	capv := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Lsetxattr(filepath.Join(root, "d/cap"), "security.capability", capv, 0); err != nil {
		t.Skipf("cannot set a file capability here: %v", err)
	}
	if err := w.Refuse(); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("Refuse = %v, want denied", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "d/null")); err == nil {
		t.Errorf("the device node is still there")
	}
	if n, _ := unix.Lgetxattr(filepath.Join(root, "d/cap"), "security.capability", nil); n > 0 {
		t.Errorf("the file capability is still there")
	}
}

// Nothing touched: nothing refused, and no walk needed.
func TestSetIDWatchQuietRun(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644))
	w := sandbox.WatchSetID(root)
	must(t, os.WriteFile(filepath.Join(root, "f"), []byte("y"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "g"), []byte("y"), 0o755))
	if err := w.Refuse(); err != nil {
		t.Fatal(err)
	}
}
