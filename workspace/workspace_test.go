package workspace

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		code     string
	}{
		{"a/b.txt", "a/b.txt", ""},
		{"./a//b/./c", "a/b/c", ""},
		{"a/", "a", ""},
		{"", "", agentos.EDENIED},
		{".", "", agentos.EDENIED},
		{"../x", "", agentos.EDENIED},
		{"a/../../x", "", agentos.EDENIED},
		{"a/../b", "", agentos.EDENIED}, // any .. is refused, even one that stays inside
		{"/etc/passwd", "", agentos.EDENIED},
		{`a\..\b`, "", agentos.EDENIED},
		{"a\x00b", "", agentos.EDENIED},
	} {
		got, err := Clean(tc.in)
		if agentos.ErrorCode(err) != tc.code || got != tc.want {
			t.Errorf("Clean(%q) = %q, %v; want %q, code %q", tc.in, got, err, tc.want, tc.code)
		}
	}
}

func TestProtected(t *testing.T) {
	for _, p := range []string{".git", ".git/config", ".GIT/hooks/pre-commit", ".agentos/agentos.db", "agentos.yaml", "vendor/x/.git/config", "AgentOS.yaml"} {
		if _, err := CleanWritable(p); agentos.ErrorCode(err) != agentos.EDENIED {
			t.Errorf("CleanWritable(%q) = %v, want denied", p, err)
		}
	}
	for _, p := range []string{"docs/agentos.yaml.md", ".github/x", "gitfoo", ".gitignore", "a/.gitkeep"} {
		if _, err := CleanWritable(p); err != nil {
			t.Errorf("CleanWritable(%q) = %v, want ok", p, err)
		}
	}
}

func TestNoSymlinkInPath(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "real"), 0o755)
	os.Symlink("/tmp", filepath.Join(root, "out"))
	os.Symlink("real", filepath.Join(root, "in"))
	if err := NoSymlinkInPath(root, "real/new/file"); err != nil {
		t.Errorf("plain path refused: %v", err)
	}
	for _, p := range []string{"out/x", "in/x", "out"} {
		if err := NoSymlinkInPath(root, p); agentos.ErrorCode(err) != agentos.EDENIED {
			t.Errorf("NoSymlinkInPath(%q) = %v, want denied", p, err)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Symlink(exe, filepath.Join(dir, "alias"))
	got, err := LookPath("tool", []string{"tool"}, dir, dir)
	if err != nil || got != exe {
		t.Errorf("LookPath(tool) = %q, %v", got, err)
	}
	if _, err := LookPath("tool", []string{"other"}, dir, dir); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("unlisted tool allowed: %v", err)
	}
	if _, err := LookPath("data", []string{"data"}, dir, dir); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("non-executable allowed: %v", err)
	}
	if _, err := LookPath("ghost", []string{"ghost"}, dir, dir); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("missing tool allowed: %v", err)
	}
	// A symlink resolves to its real target.
	got, err = LookPath("alias", []string{"alias"}, dir, dir)
	if err != nil || got != exe {
		t.Errorf("LookPath(alias) = %q, %v; want the real path %q", got, err, exe)
	}
	// Relative PATH entries would resolve inside the worktree: ignored.
	if _, err := LookPath("tool", []string{"tool"}, ".", dir); err == nil {
		t.Error("a relative PATH entry was searched")
	}
}

func TestTree(t *testing.T) {
	tr := NewTree()
	tr.AddFile("a/b/c.txt", false)
	tr.AddFile("link", true)
	if !tr.IsDir("a/b") || !tr.Exists("a") {
		t.Fatal("parents not recorded")
	}
	if err := tr.CheckNoSymlink("link/x"); err == nil {
		t.Error("write through a symlink allowed")
	}
	if err := tr.CheckParentNotFile("a/b/c.txt/d"); err == nil {
		t.Error("file used as a directory")
	}
	tr.Rename("a", "z")
	if tr.Exists("a/b/c.txt") || !tr.Exists("z/b/c.txt") {
		t.Error("rename did not move children")
	}
	tr.Remove("z")
	if tr.Exists("z/b") {
		t.Error("remove left children")
	}
}

// Whatever the input, a path Clean accepts stays under the root when joined.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../../b", "/abs", "./.", "a//b", "..", "a/..", "\x00", `..\x`, "a/./../b"} {
		f.Add(s)
	}
	root := "/work/root"
	f.Fuzz(func(t *testing.T, p string) {
		c, err := Clean(p)
		if err != nil {
			return
		}
		j := filepath.Join(root, c)
		if !strings.HasPrefix(j, root+"/") {
			t.Fatalf("Clean(%q) = %q escapes to %q", p, c, j)
		}
		if strings.Contains("/"+c+"/", "/../") || c == "." || strings.HasPrefix(c, "/") {
			t.Fatalf("Clean(%q) = %q is not clean", p, c)
		}
	})
}

// A lazy tree answers exactly as a tree holding the whole base does,
// through every kind of change (a removed directory stays removed when it
// is made again, a renamed one takes its base children along, a symlink
// under a renamed directory still refuses), and reads only the directories
// on the paths asked about.
func TestLazyTreeMatchesEager(t *testing.T) {
	base := []agentos.TreeEntry{
		{Path: "a", Dir: true}, {Path: "a/b", Dir: true}, {Path: "a/b/c.txt"}, {Path: "a/b/link", Symlink: true},
		{Path: "a/d", Dir: true}, {Path: "a/d/e.txt"}, {Path: "f.txt"}, {Path: "top-link", Symlink: true},
		{Path: "big", Dir: true},
	}
	for i := range 50 {
		base = append(base, agentos.TreeEntry{Path: fmt.Sprintf("big/f%d", i)})
	}
	listed := map[string]int{}
	list := func(dir string) ([]agentos.TreeEntry, error) {
		listed[dir]++
		var out []agentos.TreeEntry
		for _, e := range base {
			if path.Dir(e.Path) == dir {
				out = append(out, e)
			}
		}
		return out, nil
	}
	eager := NewTree()
	for _, e := range base {
		if e.Dir {
			eager.AddDir(e.Path)
		} else {
			eager.AddFile(e.Path, e.Symlink)
		}
	}
	lazy := NewLazyTree(list)
	queries := []string{"a", "a/b", "a/b/c.txt", "a/b/link", "a/b/link/x", "a/d/e.txt", "z", "z/b/c.txt", "z/b/link/x", "f.txt", "f.txt/x", "top-link/x", "new/dir/file", "a/d", "a/d/new"}
	check := func(when string) {
		t.Helper()
		for _, q := range queries {
			ge, gl := eager.Exists(q), lazy.Exists(q)
			de, dl := eager.IsDir(q), lazy.IsDir(q)
			se, sl := eager.CheckNoSymlink(q) == nil, lazy.CheckNoSymlink(q) == nil
			pe, pl := eager.CheckParentNotFile(q) == nil, lazy.CheckParentNotFile(q) == nil
			if ge != gl || de != dl || se != sl || pe != pl {
				t.Errorf("%s: %q: eager exists=%v dir=%v nosymlink=%v parentok=%v, lazy %v %v %v %v", when, q, ge, de, se, pe, gl, dl, sl, pl)
			}
		}
	}
	check("at the base")
	if listed["big"] != 0 {
		t.Errorf("listed big/ (%d times), which no query goes through", listed["big"])
	}
	ops := []struct {
		name string
		do   func(tr *Tree)
	}{
		{"remove a/d", func(tr *Tree) { tr.Remove("a/d") }},
		{"mkdir a/d again", func(tr *Tree) { tr.AddDir("a/d") }},
		{"rename a to z", func(tr *Tree) { tr.Rename("a", "z") }},
		{"write new/dir/file", func(tr *Tree) { tr.AddFile("new/dir/file", false) }},
		{"remove f.txt", func(tr *Tree) { tr.Remove("f.txt") }},
		{"write a/d/new", func(tr *Tree) { tr.AddFile("a/d/new", false) }},
	}
	for _, op := range ops {
		op.do(eager)
		op.do(lazy)
		check("after " + op.name)
	}
	// The same changes on a tree nothing was asked of before.
	fresh := NewLazyTree(list)
	for _, op := range ops {
		op.do(fresh)
	}
	lazy = fresh
	check("after every change, unasked")
	if lazy.Err() != nil {
		t.Fatal(lazy.Err())
	}
	for d, n := range listed {
		if n > 2 { // once per tree
			t.Errorf("listed %q %d times, want once per tree", d, n)
		}
	}
}
