package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentos/agentos/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestPostgresStore drives the real binary against PostgreSQL through
// AGENTOS_STORE_URL: init, run a plan to a commit, audit verify, task list.
// It judges by what it sees outside AgentOS: the rows in the database, no
// SQLite file, and the URL's password in no output, no ReviewPack and no
// audit event.
func TestPostgresStore(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.FreshDatabase(t)
	u, _ := url.Parse(dbURL)
	password, _ := u.User.Password()
	if len(password) < 6 {
		t.Fatalf("the test server's role needs a password of 6 characters or more to look for")
	}

	work := t.TempDir()
	bin := filepath.Join(work, "agentos")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home, repo := filepath.Join(work, "home"), filepath.Join(work, "repo")
	for _, d := range []string{home, filepath.Join(repo, "docs")} {
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
	write(plan, "version: 1\ngoal: Add a greeting file\nsteps:\n  - write: {path: docs/hello.txt, content: \"hello\\n\"}\nverify:\n  - argv: [grep, -q, hello, docs/hello.txt]\n")
	env := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "NO_COLOR=1", "AGENTOS_STORE_URL="+dbURL)
	var seen strings.Builder // everything the binary printed
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		c := exec.Command(args[0], args[1:]...)
		if args[0] == "agentos" {
			c = exec.Command(bin, args[1:]...)
		}
		c.Dir, c.Env = repo, env
		out, err := c.CombinedOutput()
		seen.Write(out)
		if wantOK && err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if !wantOK && err == nil {
			t.Fatalf("%v succeeded, want a failure:\n%s", args, out)
		}
		return string(out)
	}
	run(true, "git", "init", "-q", "-b", "main")
	run(true, "git", "add", ".")
	run(true, "git", "commit", "-q", "-m", "initial")

	if out := run(true, "agentos", "init"); !strings.Contains(out, "store   postgres://"+u.User.Username()+":xxxxx@") {
		t.Fatalf("init does not name the store it created:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(repo, ".agentos", "agentos.db")); err == nil {
		t.Fatal("init created a SQLite store although AGENTOS_STORE_URL names PostgreSQL")
	}
	out := run(true, "agentos", "run", "--plan", plan)
	m := regexp.MustCompile(`task (t\w+) committed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run did not commit:\n%s", out)
	}
	task := m[1]
	if out := run(true, "agentos", "audit", "verify"); !strings.Contains(out, "audit chain ok") {
		t.Fatalf("audit verify:\n%s", out)
	}
	if out := run(true, "agentos", "task", "list"); !regexp.MustCompile(task + `\s+committed`).MatchString(out) {
		t.Fatalf("task list does not show %s committed:\n%s", task, out)
	}
	// Read verbs change nothing in PostgreSQL either.
	before := dumpStore(t, dbURL)
	run(true, "agentos", "task", "show", task)
	run(true, "agentos", "trace", "HEAD")
	run(true, "agentos", "audit", "verify")
	if after := dumpStore(t, dbURL); after != before {
		t.Fatalf("read verbs changed the store:\nbefore: %s\nafter:  %s", before, after)
	}
	auditJSON := run(true, "agentos", "audit", "log", "--json")
	if !strings.Contains(auditJSON, task) {
		t.Fatalf("audit log --json does not name %s", task)
	}

	// The rows are in PostgreSQL, seen without AgentOS.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state string
	var events int
	if err := conn.QueryRow(ctx, `SELECT state FROM tasks WHERE id = $1`, task).Scan(&state); err != nil || state != "committed" {
		t.Fatalf("task %s in PostgreSQL: %q, %v", task, state, err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit WHERE strpos(data, $1) > 0 OR strpos(task, $1) > 0`, password).Scan(&events); err != nil || events != 0 {
		t.Fatalf("%d audit events hold the password (%v)", events, err)
	}

	// The memory lives in PostgreSQL too (full-text search, stemmed).
	run(true, "agentos", "memory", "add", "Releases are cut from the release branches only")
	if out := run(true, "agentos", "memory", "search", "release branch"); !strings.Contains(out, "release branches") {
		t.Fatalf("memory search on PostgreSQL does not find the item:\n%s", out)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM memory_items WHERE strpos(text, 'release branches') > 0`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("the memory item is not in PostgreSQL: %d rows, %v", events, err)
	}

	// Wrong password, unparsable URL: errors name the URL, never the password.
	bad := *u
	bad.User = url.UserPassword(u.User.Username(), "wrong-"+password)
	env = append(env, "AGENTOS_STORE_URL="+bad.String())
	// The URL is named with its password as xxxxx, which the printed-error
	// redactor may mask once more as URL credentials.
	if out := run(false, "agentos", "task", "list", "--debug"); !strings.Contains(out, "@127.0.0.1:") ||
		(!strings.Contains(out, "agentos:xxxxx@") && !strings.Contains(out, "agentos:[REDACTED")) || strings.Contains(out, password) {
		t.Fatalf("a refused login does not name the redacted URL:\n%s", out)
	}
	env = append(env, "AGENTOS_STORE_URL=postgres://agentos:"+password+"@127.0.0.1:notaport/x")
	if out := run(false, "agentos", "task", "list", "--debug"); !strings.Contains(out, "does not parse") {
		t.Fatalf("an unparsable URL:\n%s", out)
	}

	if strings.Contains(seen.String(), password) {
		t.Fatalf("the store password appears in the binary's output:\n%s", seen.String())
	}
	filepath.WalkDir(filepath.Join(repo, ".agentos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), password) {
				t.Errorf("%s holds the store password", p)
			}
		}
		return nil
	})
}

// dumpStore summarises what the store holds: row counts and the chain head.
func dumpStore(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var out strings.Builder
	for _, q := range []string{
		`SELECT count(*)::text FROM audit`, `SELECT coalesce(max(hash), '') FROM audit`,
		`SELECT count(*)::text FROM tasks`, `SELECT string_agg(id || state || updated_at, ',') FROM tasks`,
		`SELECT count(*)::text FROM reviews`, `SELECT count(*)::text FROM runs`, `SELECT count(*)::text FROM locks`,
	} {
		var s *string
		if err := c.QueryRow(ctx, q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if s != nil {
			out.WriteString(*s)
		}
		out.WriteString(" ")
	}
	return out.String()
}
