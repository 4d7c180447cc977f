package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/agentos/agentos/sandbox"
	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

var update = flag.Bool("update", false, "update the expected output embedded in scripts")

// TestMain makes the test binary itself the agentos command: testscript.Main
// puts a copy of it named agentos on PATH, and a process started under that
// name runs run(), the same function main calls. The scripts drive the real
// command without a `go build`, and `go test -cover` counts what they run.
func TestMain(m *testing.M) {
	// The sandbox starts its helper as /proc/self/exe, a name testscript
	// does not know: without this, the helper would run the tests.
	if sandbox.IsHelper() {
		os.Exit(run())
	}
	testscript.Main(m, map[string]func(){
		"agentos": func() { useTestResolver(); os.Exit(run()) }, // net_test.go
		"fakemcp": func() { os.Exit(fakeMCP()) },                // mcp_test.go
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, Params(t, "testdata/script"))
}

// Params is the testscript setup shared by the script suites: a real git
// repository with one commit in $WORK/repo, agentos on PATH (testscript.Main
// put it there), and the commands the scripts use to attack the store.
func Params(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			os.MkdirAll(home, 0o755)
			env.Setenv("HOME", home)
			env.Setenv("GIT_AUTHOR_NAME", "Test")
			env.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Test")
			env.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("NO_COLOR", "1")
			// The OS user the commands run as: without signers in the
			// policy, that is who approves and answers ($OSUSER in scripts).
			if u, err := user.Current(); err == nil {
				env.Setenv("OSUSER", u.Username)
			}
			if gc := os.Getenv("GOCACHE"); gc != "" {
				env.Setenv("GOCACHE", gc)
			} else if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
				env.Setenv("GOCACHE", strings.TrimSpace(string(out)))
			}
			// The machine's module cache (building agentos filled it): the
			// toolchain scripts copy a module from it into the fake HOME's
			// cache through a file:// proxy, without the network.
			if mc := os.Getenv("GOMODCACHE"); mc != "" {
				env.Setenv("HOST_GOMODCACHE", mc)
			} else if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
				env.Setenv("HOST_GOMODCACHE", strings.TrimSpace(string(out)))
			}
			// Where testscript put agentos: a script that narrows PATH
			// keeps it there.
			if bin, _, _ := strings.Cut(env.Getenv("PATH"), string(filepath.ListSeparator)); bin != "" {
				env.Setenv("AGENTOS_BIN", bin)
			}
			repo := filepath.Join(env.WorkDir, "repo")
			os.MkdirAll(repo, 0o755)
			os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n"), 0o644)
			os.WriteFile(filepath.Join(repo, "README.md"), []byte("# test repo\n"), 0o644)
			os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"), 0o644)
			for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "initial"}} {
				c := exec.Command("git", args...)
				c.Dir = repo
				c.Env = append(os.Environ(), "HOME="+home, "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=t@e.com", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=t@e.com")
				if out, err := c.CombinedOutput(); err != nil {
					return fmt.Errorf("git %v: %v: %s", args, err, out)
				}
			}
			env.Cd = repo
			return nil
		},
		// [sandbox]: this machine can confine a command, as agentos
		// sandbox check reports it. Check starts the helper from this test
		// binary, so a broken dispatch in TestMain reads as "cannot
		// confine": under CI=true that is an error, not a skip.
		// [have:PROG]: PROG is on PATH. The toolchain scripts need the
		// real go, node, npm and python3; under CI=true a missing one is an
		// error (the machine is set up wrong), not a skip.
		Condition: func(cond string) (bool, error) {
			if prog, ok := strings.CutPrefix(cond, "have:"); ok {
				if _, err := exec.LookPath(prog); err != nil {
					if os.Getenv("CI") == "true" {
						return false, fmt.Errorf("CI=true but %s is not installed: %v", prog, err)
					}
					return false, nil
				}
				return true, nil
			}
			if key, ok := strings.CutPrefix(cond, "npm:"); ok {
				return npmCondition(key) // mcp_test.go
			}
			if cond == "root" { // [root]: the test runs as root
				return os.Geteuid() == 0, nil
			}
			if cond == "dedicated" {
				// [dedicated]: commands run as the sandbox's own
				// unprivileged uid here (agentos is root, the kernel and
				// $TMPDIR's file system have idmapped mounts). Where the
				// machine allows it, its absence is an error under CI=true.
				if sandbox.Check().IdentityDedicated {
					return true, nil
				}
				if sandbox.IdentityUnavailable() == "" && os.Getenv("CI") == "true" {
					return false, fmt.Errorf("CI=true but commands do not get the dedicated identity: %s", sandbox.Check().Identity)
				}
				return false, nil
			}
			if cond != "sandbox" && cond != "allowtcp" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			report := sandbox.Check()
			m := report.Missing(false)
			if cond == "allowtcp" { // [allowtcp]: and its TCP allowlist works
				m = report.MissingAllowTCP()
			}
			if len(m) > 0 {
				if os.Getenv("CI") == "true" {
					return false, fmt.Errorf("CI=true but the sandbox is unavailable: %v", m)
				}
				return false, nil
			}
			return true, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":    cmdExitcode,
			"browser":     cmdBrowser,    // browser_test.go
			"dsseverify":  cmdDSSEVerify, // attest_test.go
			"dssetamper":  cmdDSSETamper, // attest_test.go
			"sqlexec":     cmdSQLExec,
			"snapshot":    cmdSnapshot,
			"lasttask":    cmdLastTask,
			"ramfs":       cmdRamfs,    // identityplaces_test.go
			"hostuid":     cmdHostUID,  // identityplaces_test.go
			"checkuid":    cmdCheckUID, // identityplaces_test.go
			"pubdir":      cmdPubdir,   // identityplaces_test.go
			"sigfiles":    cmdSigFiles, // sigfiles_test.go
			"noleak":      cmdNoLeak,
			"rechain":     cmdRechain,     // rechain_test.go
			"serve":       cmdServe,       // net_test.go
			"served":      cmdServed,      // net_test.go
			"npmregistry": cmdNPMRegistry, // registry_test.go
			"freeport":    cmdFreeport,    // memsvc_test.go
			"httpcall":    cmdHTTPCall,    // memsvc_test.go
			"commitpol":   cmdCommitPol,   // policybase_test.go
			"hookrecv":    cmdHookRecv,    // webhooks_test.go
			"hookdump":    cmdHookDump,    // webhooks_test.go
			"hookorder":   cmdHookOrder,   // webhooks_test.go
			"hookwait":    cmdHookWait,    // webhooks_test.go
			"modelserver": cmdModelServer, // model_test.go
			"modelcalls":  cmdModelCalls,  // model_test.go
			"mcpclient":   cmdMCPClient,   // mcp_test.go
			"npmpkg":      cmdNPMPkg,      // mcp_test.go
			"envfile":     cmdEnvFile,     // mcp_test.go
			"fakemcphttp": cmdFakeMCPHTTP, // mcp_test.go
		},
	}
}

// exitcode N PROG ARGS... runs a program and checks its exact exit code
// (testscript's `! exec` only checks for non-zero).
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog args...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			// ts.Exec wraps; fall back to parsing the message.
			msg := err.Error()
			if i := strings.LastIndex(msg, "exit status "); i >= 0 {
				got, _ = strconv.Atoi(strings.TrimSpace(msg[i+len("exit status "):]))
			} else {
				ts.Fatalf("exitcode: %v", err)
			}
		} else {
			got = ee.ExitCode()
		}
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// sqlexec DB SQL... runs statements directly on a SQLite file: the scripts
// use it to tamper with the store the way an attacker with file access would.
func cmdSQLExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: sqlexec DB SQL...")
	}
	db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("sqlexec: %v", err)
	}
	defer db.Close()
	for _, q := range args[1:] {
		// Single-quoted script words are not expanded by testscript.
		q = os.Expand(q, ts.Getenv)
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "SELECT") {
			rows, err := db.Query(q)
			if err != nil {
				ts.Fatalf("sqlexec %q: %v", q, err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				var parts []string
				for _, v := range vals {
					parts = append(parts, fmt.Sprint(v))
				}
				fmt.Fprintln(ts.Stdout(), strings.Join(parts, "|"))
			}
			rows.Close()
			continue
		}
		res, err := db.Exec(q)
		if (err != nil) != neg {
			ts.Fatalf("sqlexec %q: %v", q, err)
		}
		if err == nil {
			n, _ := res.RowsAffected()
			if n == 0 && !neg {
				ts.Fatalf("sqlexec %q changed no row", q)
			}
		}
	}
}

// snapshot FILE writes a digest of the repository's working tree (all files
// but .agentos/), its index file and every ref, so a script can compare two
// snapshots byte for byte.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: snapshot FILE")
	}
	root := ts.Getenv("WORK") + "/repo"
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == ".agentos" || (rel == ".git" && d.IsDir()) {
			return fs.SkipDir
		}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			s := sha256.Sum256(b)
			lines = append(lines, "file "+rel+" "+hex.EncodeToString(s[:]))
		}
		return nil
	})
	idx, _ := os.ReadFile(filepath.Join(root, ".git", "index"))
	s := sha256.Sum256(idx)
	lines = append(lines, "index "+hex.EncodeToString(s[:]))
	head, _ := os.ReadFile(filepath.Join(root, ".git", "HEAD"))
	lines = append(lines, "HEAD "+strings.TrimSpace(string(head)))
	out, err := exec.Command("git", "-C", root, "for-each-ref", "--format=%(refname) %(objectname)").Output()
	if err != nil {
		ts.Fatalf("snapshot: %v", err)
	}
	lines = append(lines, strings.Split(strings.TrimSpace(string(out)), "\n")...)
	wl, _ := exec.Command("git", "-C", root, "worktree", "list", "--porcelain").Output()
	lines = append(lines, "worktrees "+strings.ReplaceAll(strings.TrimSpace(string(wl)), "\n", " | "))
	sort.Strings(lines)
	os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// lasttask VAR sets $VAR to the newest task's id (and $VAR_RUN to its run).
func cmdLastTask(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: lasttask VAR")
	}
	db, err := sql.Open("sqlite", ts.Getenv("WORK")+"/repo/.agentos/agentos.db")
	if err != nil {
		ts.Fatalf("lasttask: %v", err)
	}
	defer db.Close()
	var id, run, commit string
	if err := db.QueryRow(`SELECT id, run_id, commit_sha FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT 1`).Scan(&id, &run, &commit); err != nil {
		ts.Fatalf("lasttask: %v", err)
	}
	ts.Setenv(args[0], id)
	ts.Setenv(args[0]+"_RUN", run)
	ts.Setenv(args[0]+"_COMMIT", commit)
}

// noleak TOKENS PATH... fails if any line of the file TOKENS occurs, byte
// for byte, in any file under the PATHs (the store's database and WAL, the
// ReviewPack files, ...): an observation of the bytes AgentOS left, made
// without AgentOS.
func cmdNoLeak(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: noleak TOKENS PATH...")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var tokens []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			tokens = append(tokens, l)
		}
	}
	if len(tokens) == 0 {
		ts.Fatalf("noleak: %s names no token", args[0])
	}
	files := 0
	for _, root := range args[1:] {
		err := filepath.WalkDir(ts.MkAbs(root), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "bases" && filepath.Base(filepath.Dir(p)) == ".agentos" {
				// Checkouts of commits already in the repository: what
				// they hold is the repository's own content.
				return filepath.SkipDir
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			for _, tok := range tokens {
				if strings.Contains(string(b), tok) {
					ts.Fatalf("noleak: %s holds %q", p, tok)
				}
			}
			return nil
		})
		ts.Check(err)
	}
	ts.Logf("noleak: %d tokens absent from %d files", len(tokens), files)
}
