package gitrepo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/attest"
)

func notesRepo(tb testing.TB) (*Repo, func(args ...string) string) {
	tb.Helper()
	dir := tb.TempDir()
	git := func(args ...string) string {
		tb.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			tb.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "base")
	r, err := Open(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	return r, git
}

var noteID = agentos.CommitIdentity{Name: "AgentOS", Email: "agentos@localhost"}

// Notes written at once by many processes all land (the ref moves by
// compare-and-swap), a note replaced keeps the others, git's own reader
// reads them, and nothing of the working tree or index changes.
func TestAddNote(t *testing.T) {
	ctx := context.Background()
	r, git := notesRepo(t)
	var commits []string
	tree := git("rev-parse", "HEAD^{tree}")
	for i := range 12 {
		commits = append(commits, git("commit-tree", tree, "-p", "HEAD", "-m", fmt.Sprint("c", i)))
	}
	status := git("status", "--porcelain=v2", "--branch")
	index, _ := os.ReadFile(filepath.Join(r.Root, ".git", "index"))
	var wg sync.WaitGroup
	errs := make([]error, len(commits))
	for i, c := range commits {
		wg.Go(func() { errs[i] = r.AddNote(ctx, attest.NotesRef, c, []byte("note "+c+"\n"), noteID) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	if err := r.AddNote(ctx, attest.NotesRef, commits[3], []byte("replaced\n"), noteID); err != nil {
		t.Fatal(err)
	}
	for i, c := range commits {
		want := "note " + c + "\n"
		if i == 3 {
			want = "replaced\n"
		}
		if got := git("notes", "--ref="+attest.NotesRef, "show", c); got+"\n" != want {
			t.Errorf("note of %s = %q, want %q", c, got, want)
		}
		if b, err := r.Note(ctx, attest.NotesRef, c); err != nil || string(b) != want {
			t.Errorf("Note(%s) = %q, %v", c, b, err)
		}
	}
	if n := len(strings.Split(git("notes", "--ref="+attest.NotesRef, "list"), "\n")); n != len(commits) {
		t.Errorf("%d notes, want %d", n, len(commits))
	}
	if _, err := r.Note(ctx, attest.NotesRef, git("rev-parse", "HEAD")); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Errorf("Note of a commit without one: %v, want not_found", err)
	}
	index2, _ := os.ReadFile(filepath.Join(r.Root, ".git", "index"))
	if got := git("status", "--porcelain=v2", "--branch"); got != status || !bytes.Equal(index, index2) {
		t.Errorf("the working tree or index changed:\n%s\n%s", status, got)
	}
}

// BenchmarkCommitEvidence is the added cost per commit of what attestation
// and signing write, each alternated with a plain commit-tree in one run:
// the signed commit (ssh-keygen -Y sign through git), the DSSE signature
// and the git note (into a notes ref already holding 1000 notes). Medians,
// in milliseconds, and ratios to the plain commit; nothing is asserted.
func BenchmarkCommitEvidence(b *testing.B) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("CI=true but ssh-keygen is missing: %v", err)
		}
		b.Skip("needs ssh-keygen")
	}
	ctx := context.Background()
	r, git := notesRepo(b)
	key := filepath.Join(b.TempDir(), "signing")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	tree := git("rev-parse", "HEAD^{tree}")
	parent := git("rev-parse", "HEAD")
	for i := range 1000 {
		c := git("commit-tree", tree, "-p", parent, "-m", fmt.Sprint("old", i))
		if err := r.AddNote(ctx, attest.NotesRef, c, []byte("old\n"), noteID); err != nil {
			b.Fatal(err)
		}
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	signed := noteID
	signed.Sign, signed.SigningKey = true, key
	var plain, sign, dsse, note []time.Duration
	n := 0
	for b.Loop() {
		n++
		msg := fmt.Sprintf("change %d\n\nAgentOS-Task: t%d\n", n, n)
		start := time.Now()
		c, err := r.CommitTree(ctx, tree, parent, msg, noteID)
		plain = append(plain, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := r.CommitTree(ctx, tree, parent, msg+"signed\n", signed); err != nil {
			b.Fatal(err)
		}
		sign = append(sign, time.Since(start))
		start = time.Now()
		env, err := attest.Sign(attest.NewStatement(c, attest.Predicate{Task: "t", PlanHash: "sha256:p"}), priv)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := env.Marshal()
		dsse = append(dsse, time.Since(start))
		start = time.Now()
		if err := r.AddNote(ctx, attest.NotesRef, c, body, noteID); err != nil {
			b.Fatal(err)
		}
		note = append(note, time.Since(start))
	}
	med := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)/2]) / float64(time.Millisecond)
	}
	p := med(plain)
	b.ReportMetric(p, "ms-commit-tree")
	b.ReportMetric(med(sign), "ms-signed-commit-tree")
	b.ReportMetric(med(dsse), "ms-dsse-sign")
	b.ReportMetric(med(note), "ms-note")
	b.ReportMetric((med(sign)-p+med(dsse)+med(note))/p, "added/commit-tree")
	b.ReportMetric(0, "ns/op")
}
