package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func benchRepo(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	git(b, dir, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("bench\n"), 0o644)
	git(b, dir, "add", ".")
	git(b, dir, "commit", "-q", "-m", "initial")
	return dir
}

func git(b *testing.B, dir string, args ...string) {
	b.Helper()
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=B", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=B", "GIT_COMMITTER_EMAIL=b@b")
	if out, err := c.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// BenchmarkRunOverhead measures `agentos run --plan` for a one-file plan with
// one verify check against doing the same by hand with git (write, add,
// commit) in the same run. Report: ms/op of each and the difference.
func BenchmarkRunOverhead(b *testing.B) {
	// The test binary itself, as the agentos that TestMain put on PATH.
	bin, err := exec.LookPath("agentos")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("by-hand-git", func(b *testing.B) {
		dir := benchRepo(b)
		i := 0
		for b.Loop() {
			i++
			name := fmt.Sprintf("f%d.txt", i)
			os.WriteFile(filepath.Join(dir, name), []byte("hello\n"), 0o644)
			git(b, dir, "add", name)
			git(b, dir, "commit", "-q", "-m", "add "+name)
			c := exec.Command("grep", "-q", "hello", name)
			c.Dir = dir
			if err := c.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("agentos-run", func(b *testing.B) {
		dir := benchRepo(b)
		if out, err := exec.Command(bin, "-C", dir, "init").CombinedOutput(); err != nil {
			b.Fatalf("init: %v\n%s", err, out)
		}
		git(b, dir, "add", "agentos.yaml")
		git(b, dir, "commit", "-q", "-m", "policy")
		plans := b.TempDir()
		i := 0
		for b.Loop() {
			i++
			plan := filepath.Join(plans, fmt.Sprintf("p%d.yaml", i))
			os.WriteFile(plan, []byte(fmt.Sprintf("version: 1\ngoal: add f%d\nsteps:\n  - write: {path: f%d.txt, content: \"hello\\n\"}\nverify:\n  - argv: [grep, -q, hello, f%d.txt]\n", i, i, i)), 0o644)
			c := exec.Command(bin, "-C", dir, "run", "--plan", plan)
			if out, err := c.CombinedOutput(); err != nil {
				b.Fatalf("run: %v\n%s", err, out)
			}
		}
	})
}
