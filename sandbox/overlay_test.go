//go:build linux

package sandbox_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

func overlayOrSkip(t *testing.T) {
	t.Helper()
	if err := sandbox.OverlayCheck(t.TempDir()); err != nil {
		unavailable(t, "overlay worktrees unavailable here: %v", err)
	}
}

// A command run over an Overlay sees the lower checkout plus its own
// changes, and its writes and deletions land in the upper layer only.
func TestOverlaySpec(t *testing.T) {
	overlayOrSkip(t)
	if !sandbox.Check().OK() {
		unavailable(t, "sandbox unavailable here: %v", sandbox.Check().Missing(false))
	}
	d := t.TempDir()
	ov := sandbox.Overlay{Lower: filepath.Join(d, "lower"), Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	for _, p := range []string{ov.Lower, ov.Upper, ov.Work} {
		os.MkdirAll(p, 0o755)
	}
	os.WriteFile(filepath.Join(ov.Lower, "keep.txt"), []byte("keep\n"), 0o644)
	os.WriteFile(filepath.Join(ov.Lower, "gone.txt"), []byte("gone\n"), 0o644)
	var out bytes.Buffer
	res, err := sandbox.Run(t.Context(), sandbox.Spec{
		Argv:     []string{"/bin/sh", "-c", "cat keep.txt && rm gone.txt && echo new > new.txt"},
		Worktree: ov.Upper, Overlay: &ov, Env: []string{"PATH=/usr/bin:/bin"}, Stdout: &out, Stderr: &out,
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v, exit %d: %s", err, res.ExitCode, out.String())
	}
	if out.String() != "keep\n" {
		t.Errorf("output %q, want the lower file's content", out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(ov.Lower, "gone.txt")); string(b) != "gone\n" {
		t.Errorf("the lower checkout changed: gone.txt = %q", b)
	}
	if !sandbox.IsWhiteout(filepath.Join(ov.Upper, "gone.txt")) {
		t.Errorf("no whiteout for the deleted file in the upper layer")
	}
	if b, _ := os.ReadFile(filepath.Join(ov.Upper, "new.txt")); string(b) != "new\n" {
		t.Errorf("upper new.txt = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(ov.Upper, "keep.txt")); err == nil {
		t.Errorf("an unchanged file was copied into the upper layer")
	}
}

// OpenView gives this process the same view; its writes land in the upper
// layer, and the view is gone after Close.
func TestOverlayView(t *testing.T) {
	overlayOrSkip(t)
	d := t.TempDir()
	ov := sandbox.Overlay{Lower: filepath.Join(d, "lower"), Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	for _, p := range []string{ov.Lower + "/dir", ov.Upper, ov.Work} {
		os.MkdirAll(p, 0o755)
	}
	os.WriteFile(filepath.Join(ov.Lower, "dir", "a"), []byte("a"), 0o644)
	v, err := sandbox.OpenView(t.Context(), ov, ov.Upper)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(v.Path, "dir", "a")); err != nil || string(b) != "a" {
		t.Fatalf("view read: %q, %v", b, err)
	}
	if err := os.Remove(filepath.Join(v.Path, "dir", "a")); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if !sandbox.IsWhiteout(filepath.Join(ov.Upper, "dir", "a")) {
		t.Errorf("no whiteout after deleting through the view")
	}
	if _, err := os.Stat(filepath.Join(ov.Lower, "dir", "a")); err != nil {
		t.Errorf("the lower checkout changed: %v", err)
	}
	if _, err := os.Stat(v.Path); err == nil {
		t.Errorf("the view outlived Close")
	}
}
