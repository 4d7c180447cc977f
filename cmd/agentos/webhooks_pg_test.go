package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/agentos/agentos/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestPostgresWebhooks delivers webhooks through the real binary over a
// PostgreSQL store, with two deliverers racing as two machines would: the
// receiver gets the commit once, and the cursor and the audited attempt are
// rows in PostgreSQL.
func TestPostgresWebhooks(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.FreshDatabase(t)

	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	work := t.TempDir()
	bin := filepath.Join(work, "agentos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home, repo := filepath.Join(work, "home"), filepath.Join(work, "repo")
	for _, d := range []string{home, repo} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(home, ".gitconfig"), "[user]\n\tname = Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n")
	write(filepath.Join(repo, "README.md"), "# test repo\n")
	plan := filepath.Join(work, "change.yaml")
	write(plan, "version: 1\ngoal: Add a greeting file\nsteps:\n  - write: {path: hello.txt, content: \"hello\\n\"}\nverify:\n  - argv: [grep, -q, hello, hello.txt]\n")
	env := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "NO_COLOR=1", "AGENTOS_STORE_URL="+dbURL,
		"HOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(args[0], args[1:]...)
		if args[0] == "agentos" {
			c = exec.Command(bin, args[1:]...)
		}
		c.Dir, c.Env = repo, env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("git", "init", "-q", "-b", "main")
	run("git", "add", ".")
	run("git", "commit", "-q", "-m", "initial")
	run("agentos", "init")
	f, err := os.OpenFile(filepath.Join(repo, "agentos.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("webhooks:\n  endpoints:\n    - {name: ops, url: " + srv.URL + "/hook, events: [committed], secret_env: HOOK_SECRET}\n")
	f.Close()
	run("git", "add", "agentos.yaml")
	run("git", "commit", "-q", "-m", "policy with a webhook")
	m := regexp.MustCompile(`task (t\w+) committed`).FindStringSubmatch(run("agentos", "run", "--plan", plan))
	if m == nil {
		t.Fatal("run did not commit")
	}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { run("agentos", "webhooks", "run", "--until-idle", "--poll", "50ms") })
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], `"type":"dev.agentos.task.committed"`) || !strings.Contains(got[0], m[1]) {
		t.Fatalf("receiver got %q, want the commit of %s once", got, m[1])
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var status string
	if err := conn.QueryRow(ctx, `SELECT last_status FROM webhook_cursors WHERE endpoint = 'ops'`).Scan(&status); err != nil || status != "delivered" {
		t.Fatalf("cursor of ops in PostgreSQL: %q, %v", status, err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit WHERE kind = 'webhook.delivery' AND task = $1`, m[1]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d webhook.delivery events for %s (%v), want 1", n, m[1], err)
	}
	run("agentos", "audit", "verify")
}
