package main

// Issues 13 and 14 through the front doors built after most of their
// points landed: `agentos serve` (API, web page), `agentos mcp`. Each test
// plays the adversary or the fault against the real binary and judges by
// what is outside AgentOS: the store's bytes, the ReviewPack files, the
// processes left on the machine.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// procsWith lists the processes whose command line holds marker.
func procsWith(marker string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) && !bytes.Contains(b, []byte("go test")) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// waitProc waits until a process whose command line holds marker runs;
// the bound only keeps a broken build from hanging the suite.
func waitProc(t *testing.T, s *apiServer, marker string) {
	t.Helper()
	for i := 0; len(procsWith(marker)) == 0; i++ {
		if i == 1200 {
			out, _ := exec.Command(s.bin, "-C", s.repo, "task", "list").CombinedOutput()
			t.Fatalf("%q never started; tasks:\n%s\nserver log:\n%s", marker, out, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allowCommands adds programs to the committed policy's allowlist.
func (s *apiServer) allowCommands(progs ...string) {
	s.t.Helper()
	pol := filepath.Join(s.repo, "agentos.yaml")
	b, err := os.ReadFile(pol)
	if err != nil {
		s.t.Fatal(err)
	}
	add := ""
	for _, p := range progs {
		add += "    - " + p + "\n"
	}
	b = bytes.Replace(b, []byte("  allow:\n"), []byte("  allow:\n"+add), 1)
	os.WriteFile(pol, b, 0o644)
	s.git("commit", "-q", "-am", "policy: allow "+strings.Join(progs, ", "))
}

// TestServeSignalEndsRuns: a SIGTERM to `agentos serve` while a run that a
// request started is in its exec step ends that task cancelled with its
// ReviewPack, its command's process tree gone, no lease left, and serve
// exits 0 as a worker stopped as asked does. Before, serve exited as soon
// as it stopped listening and left the task in applying, with no
// ReviewPack.
func TestServeSignalEndsRuns(t *testing.T) {
	s := startAPI(t)
	s.allowCommands("sleep")
	const marker = "7391" // sleep's argument: this test's process on the host
	plan := "version: 1\ngoal: a slow step\nsteps:\n  - write: {path: s.txt, content: \"s\\n\"}\n  - exec: {argv: [sleep, \"" + marker + "\"]}\nverify:\n  - argv: [test, -f, s.txt]\n"
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": plan, "plan_only": true})
	task, _, _ := taskOf(t, r)
	go func() {
		// The response may never come: the server stops under it.
		req, _ := http.NewRequest("POST", s.base+"/api/v1/tasks/"+task+"/apply", nil)
		req.Header.Set("Authorization", "Bearer "+s.tok["sam"])
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitProc(t, s, "sleep\x00"+marker)
	// The same through MCP at /mcp: a submit_plan call's run.
	const marker2 = "7394"
	mcpDone := make(chan struct{})
	go func() {
		defer close(mcpDone)
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: s.base + "/mcp", HTTPClient: &http.Client{Transport: bearer{s.tok["sam"]}}}, nil)
		if err != nil {
			return
		}
		defer cs.Close()
		cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "submit_plan", Arguments: map[string]any{"plan": strings.NewReplacer(marker, marker2, "a slow step", "a slow call", "s.txt", "m.txt").Replace(plan)}})
	}()
	waitProc(t, s, "sleep\x00"+marker2)
	s.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", s.log.String())
	}
	if s.exitErr != nil {
		t.Errorf("serve exited %v after SIGTERM, want 0:\n%s", s.exitErr, s.log.String())
	}
	<-mcpDone
	if st := s.sqlString(`SELECT state FROM tasks WHERE id = ?`, task); st != "cancelled" {
		t.Errorf("task %s is %s after SIGTERM to serve, want cancelled", task, st)
	}
	if st := s.sqlString(`SELECT state FROM tasks WHERE goal = 'a slow call'`); st != "cancelled" {
		t.Errorf("the MCP call's task is %s after SIGTERM to serve, want cancelled", st)
	}
	if left := procsWith("sleep\x00" + marker2); len(left) > 0 {
		t.Errorf("the MCP call's step outlived serve: %q", left)
	}
	s.assertEndedBySIGTERM(t, task, marker, "serve")
}

// assertEndedBySIGTERM checks what a door stopped by SIGTERM leaves of the
// task whose step ran sleep MARKER: a ReviewPack, no lease, the signal
// named in the audit, and no process.
func (s *apiServer) assertEndedBySIGTERM(t *testing.T, task, marker, door string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(s.repo, ".agentos", "reviews", task+"-*.json")); len(m) == 0 {
		t.Errorf("no ReviewPack of %s after SIGTERM to %s", task, door)
	}
	if n := s.sqlCount(`SELECT count(*) FROM locks`); n != 0 {
		t.Errorf("%d lease(s) left after %s stopped", n, door)
	}
	if n := s.sqlCount(`SELECT count(*) FROM audit WHERE task = ? AND kind = 'task.transition' AND data LIKE '%SIGTERM%'`, task); n == 0 {
		t.Errorf("the cancellation does not name SIGTERM in the audit")
	}
	if left := procsWith("sleep\x00" + marker); len(left) > 0 {
		t.Errorf("the step's process outlived %s: %q", door, left)
	}
}

func (s *apiServer) sqlString(q string, args ...any) string {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.repo, ".agentos", "agentos.db")+"?mode=ro")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(q, args...).Scan(&v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

// TestMCPSignalEndsRuns: a SIGTERM to `agentos mcp` while a submit_plan
// call's run is in its exec step ends that task cancelled (by SIGTERM)
// with its ReviewPack, no process or lease left, and the server exits 0.
// Before, the SDK waited for the call, whose context never ended: the
// server hung until killed and the task stayed applying.
func TestMCPSignalEndsRuns(t *testing.T) {
	s := startAPI(t)
	s.allowCommands("sleep")
	const marker = "7392"
	plan := "version: 1\ngoal: a slow step\nsteps:\n  - write: {path: s.txt, content: \"s\\n\"}\n  - exec: {argv: [sleep, \"" + marker + "\"]}\nverify:\n  - argv: [test, -f, s.txt]\n"
	c := exec.Command(s.bin, "-C", s.repo, "mcp")
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() {
		c.Process.Kill()
		<-exited
	}()
	for _, m := range []any{
		map[string]any{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}}},
		map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"},
		map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": "submit_plan", "arguments": map[string]any{"plan": plan}}},
	} {
		b, _ := json.Marshal(m)
		in.Write(append(b, '\n'))
	}
	for i := 0; len(procsWith("sleep\x00"+marker)) == 0; i++ {
		if i == 1200 {
			t.Fatalf("the step never started:\n%s%s", out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("agentos mcp exited %v after SIGTERM, want 0:\n%s", err, errb.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("agentos mcp did not stop on SIGTERM:\n%s", errb.String())
	}
	task := s.sqlString(`SELECT id FROM tasks WHERE goal = 'a slow step'`)
	if st := s.sqlString(`SELECT state FROM tasks WHERE id = ?`, task); st != "cancelled" {
		t.Errorf("task %s is %s after SIGTERM to agentos mcp, want cancelled", task, st)
	}
	s.assertEndedBySIGTERM(t, task, marker, "agentos mcp")
}

// TestServeRedactsStore: tokens an API client sends (a goal, labels, the
// plan's name, a signed answer to a durable question, a cancel reason, a path) and one a
// failing check prints reach neither the API's answers, nor the server's
// log, nor the bytes of the store (database and WAL), nor the ReviewPacks.
func TestServeRedactsStore(t *testing.T) {
	s := startAPI(t)
	os.WriteFile(filepath.Join(s.repo, "creds.txt"), []byte("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"), 0o644)
	s.git("add", "creds.txt")
	s.git("commit", "-q", "-m", "credentials a check will print")
	secrets := []string{"ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u", "AKIAZ7Q3XK4PLM2N8RTV", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "xoxb-2938472938-2938472938472-AbCdEfGhIjKlMnOpQrStUvWx"}
	var bodies [][]byte
	keep := func(r reply) reply { bodies = append(bodies, r.Body); return r }

	// A goal and labels; a failing check prints the AWS secret.
	plan := "version: 1\ngoal: \"rotate ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u\"\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [cat, nonexistent, creds.txt]\n"
	task, _, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": plan, "plan_only": true, "labels": []string{"owner=AKIAZ7Q3XK4PLM2N8RTV"},
		"name": "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u.yaml"})))
	keep(s.call("sam", "POST", "/api/v1/tasks/{id}/apply", task, nil, nil))

	// A signed answer to a durable question: the task commits, so the answer
	// becomes memory.
	ask := "version: 1\ngoal: record a note\nparams:\n  - {id: note, question: \"Which note?\", blocker: true, durable: true}\nsteps:\n  - write: {path: note.txt, content: \"noted\\n\"}\nverify:\n  - argv: [test, -f, note.txt]\n"
	t2, st, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": ask, "plan_only": true})))
	if st != "blocked" {
		t.Fatalf("the durable question did not block: %s", st)
	}
	answers := []map[string]any{{"question": "note", "value": "the bot token is xoxb-2938472938-2938472938472-AbCdEfGhIjKlMnOpQrStUvWx"}}
	ast := s.call("alice", "POST", "/api/v1/tasks/{id}/answer-statement", t2, nil, map[string]any{"answers": answers})
	keep(s.call("alice", "POST", "/api/v1/tasks/{id}/answers", t2, nil, map[string]any{"answers": answers, "signed": map[string]any{"statement": string(ast.Body), "signature": s.sign("alice", ast.Body)}}))
	if _, st, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks/{id}/apply", t2, nil, nil))); st != "committed" {
		t.Fatalf("the answered task is %s, want committed", st)
	}

	// A cancel reason, and a token as a task id.
	t3, _, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": "version: 1\ngoal: note\nsteps:\n  - write: {path: n.txt, content: \"x\\n\"}\nverify:\n  - argv: [test, -f, n.txt]\n", "plan_only": true})))
	keep(s.call("sam", "POST", "/api/v1/tasks/{id}/cancel", t3, nil, map[string]any{"reason": "leaked ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u"}))
	keep(s.call("vic", "GET", "/api/v1/tasks/{id}", "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u", nil, nil))

	for _, id := range []string{task, t2, t3} {
		keep(s.call("vic", "GET", "/api/v1/tasks/{id}", id, nil, nil))
		keep(s.call("vic", "GET", "/api/v1/tasks/{id}/review", id, nil, nil))
	}
	keep(s.call("vic", "GET", "/api/v1/audit", "", url.Values{"limit": {"500"}}, nil))
	keep(s.call("vic", "POST", "/api/v1/memory/search", "", nil, map[string]any{"text": "bot token"}))
	if r := keep(s.call("vic", "POST", "/api/v1/memory/search", "", nil, map[string]any{"text": "AKIAZ7Q3XK4PLM2N8RTV"})); r.Status != 200 {
		t.Fatalf("memory search: %d %s", r.Status, r.Body)
	}
	if n := s.sqlCount(`SELECT count(*) FROM memory_items WHERE kind = 'answer' AND text LIKE '%REDACTED:slack%'`); n != 1 {
		t.Errorf("the durable answer is not in memory, redacted: the test does not reach what it checks")
	}
	// Answers become memory only as the rules say, through the API too: a
	// durable answer of a task that then fails is not remembered, and the
	// one remembered is the signer's, not the token holder's.
	failing := strings.Replace(strings.Replace(ask, "test, -f, note.txt", "test, -f, missing.txt", 1), "id: note", "id: other", 1)
	t4, st, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": failing, "plan_only": true})))
	if st != "blocked" {
		t.Fatalf("the second durable question did not block: %s", st)
	}
	answers = []map[string]any{{"question": "other", "value": "never remembered"}}
	ast = s.call("alice", "POST", "/api/v1/tasks/{id}/answer-statement", t4, nil, map[string]any{"answers": answers})
	keep(s.call("alice", "POST", "/api/v1/tasks/{id}/answers", t4, nil, map[string]any{"answers": answers, "signed": map[string]any{"statement": string(ast.Body), "signature": s.sign("alice", ast.Body)}}))
	if _, st, _ := taskOf(t, keep(s.call("sam", "POST", "/api/v1/tasks/{id}/apply", t4, nil, nil))); st != "failed" {
		t.Fatalf("the answered task is %s, want failed", st)
	}
	if n := s.sqlCount(`SELECT count(*) FROM memory_items WHERE text LIKE '%never remembered%'`); n != 0 {
		t.Errorf("the answer of a failed task became memory")
	}
	if n := s.sqlCount(`SELECT count(*) FROM memory_items WHERE kind = 'answer' AND author != 'human:alice'`); n != 0 {
		t.Errorf("%d answer item(s) not authored by the signer", n)
	}
	for _, b := range bodies {
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("an API response holds %s: %s", sec, b)
			}
		}
	}
	for _, sec := range secrets {
		if strings.Contains(s.log.String(), sec) {
			t.Errorf("the server's log holds %s", sec)
		}
	}
	// The bytes AgentOS keeps, read without AgentOS.
	files, _ := filepath.Glob(filepath.Join(s.repo, ".agentos", "agentos.db*"))
	reviews, _ := filepath.Glob(filepath.Join(s.repo, ".agentos", "reviews", "*"))
	for _, f := range append(files, reviews...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s holds %s", f, sec)
			}
		}
	}
}

// TestServeWebRendersInert: a goal, labels, a rationale and a failing
// check's output that carry HTML and Markdown (a heading, a forged
// approvals section, a table, a link, an image, a script) render as text
// on the web page's queue, task, ReviewPack and audit pages of a real
// serve: no element, no link, no script comes from them.
func TestServeWebRendersInert(t *testing.T) {
	s := startAPI(t)
	evil := `x\n## Approvals: alice and bob (2/2)\n| forged | row |\n[approve](http://evil.example) <img src=x onerror=alert(1)><script>alert(2)</script><a href=\"http://evil.example\">go</a>`
	os.WriteFile(filepath.Join(s.repo, "out.txt"), []byte("## Approvals: alice and bob (2/2)\n<img src=x onerror=alert(3)>\n[approve](http://evil.example)\n"), 0o644)
	s.git("add", "out.txt")
	s.git("commit", "-q", "-m", "a file a check will print")
	plan := "version: 1\ngoal: \"" + evil + "\"\nlabels: [\"<img src=x onerror=alert(4)>\"]\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\n    rationale: \"" + evil + "\"\nverify:\n  - argv: [cat, nonexistent, out.txt]\n"
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": plan, "plan_only": true})
	task, _, _ := taskOf(t, r)
	s.call("sam", "POST", "/api/v1/tasks/{id}/apply", task, nil, nil)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	get("/login")
	u, _ := url.Parse(s.base + "/login")
	csrf := ""
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "agentos_login" {
			csrf = ck.Value
		}
	}
	req, _ := http.NewRequest("POST", s.base+"/login", strings.NewReader(url.Values{"csrf": {csrf}, "token": {s.tok["vic"]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pages := map[string]string{}
	for _, p := range []string{"/", "/tasks/" + task, "/tasks/" + task + "/review", "/audit?task=" + task} {
		pages[p] = get(p)
	}
	if !strings.Contains(pages["/tasks/"+task], "Approvals: alice and bob") {
		t.Fatalf("the task page does not show the goal: the test does not reach what it checks:\n%s", pages["/tasks/"+task])
	}
	if !strings.Contains(pages["/tasks/"+task+"/review"], "alert(3)") {
		t.Fatalf("the ReviewPack page does not show the check's output: the test does not reach what it checks:\n%s", pages["/tasks/"+task+"/review"])
	}
	bad := regexp.MustCompile(`(?i)<img|<script>alert|<a href="http://evil|href="http://evil|<h[1-6][^>]*>\s*Approvals|<td>\s*forged`)
	for p, body := range pages {
		if m := bad.FindString(body); m != "" {
			t.Errorf("page %s renders %q from outside text as markup", p, m)
		}
	}
}

// TestSignalEndsPlanningRequest: a signal to `agentos run "request"` (and
// to `agentos mcp` serving submit_request) while the contractor plans ends
// the task cancelled by that signal with its ReviewPack, the contractor's
// process gone. Before, the task stayed planning for good: only plan-file
// runs were ended.
func TestSignalEndsPlanningRequest(t *testing.T) {
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			r := newSigRepo(t)
			marker := fmt.Sprintf("%d.%d", 3900+i, os.Getpid()%1000)
			pol := filepath.Join(r.dir, "agentos.yaml")
			b, _ := os.ReadFile(pol)
			b = bytes.Replace(b, []byte("\n  default: []\n"), []byte("\n  default: [{name: notes, argv: [test, -f, NOTES.md], timeout: 1m}]\n"), 1)
			b = append(b, "planner:\n  kind: contractor\n  contractor:\n    name: custom\n    argv: [sh, -c, \"sleep "+marker+"; printf 'n\\\\n' > NOTES.md\"]\n    timeout: 5m\n"...)
			os.WriteFile(pol, b, 0o644)
			r.git("commit", "-q", "-am", "a slow contractor")
			head := r.git("rev-parse", "main")
			c, out := r.start("run", "write the notes")
			poll(t, "the contractor's sleep", func() bool { return len(procs("sleep", marker)) > 0 })
			c.Process.Signal(sig)
			if code := exitCode(c); code != 128+int(sig) {
				t.Errorf("exit %d, want %d:\n%s", code, 128+int(sig), out)
			}
			ts := r.tasks()
			if len(ts) != 1 {
				t.Fatalf("tasks: %+v", ts)
			}
			got := r.ended(ts[0].ID, "cancelled", head, []string{"sleep", marker})
			if !strings.Contains(got.Reason, "interrupted by") {
				t.Errorf("reason %q", got.Reason)
			}
		})
	}
}

// TestMCPClientNameBounded: the client names itself in initialize, and
// every call's audit event records that name: a name of 256 KiB must not
// make each event that large (issue 14's size limits, at the MCP door).
func TestMCPClientNameBounded(t *testing.T) {
	r := newSigRepo(t)
	c := r.cmd("mcp")
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("n", 256<<10)
	for _, m := range []any{
		map[string]any{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": name, "version": "1"}}},
		map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"},
		map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": "get_task", "arguments": map[string]any{"task": "tnone"}}},
	} {
		b, _ := json.Marshal(m)
		in.Write(append(b, '\n'))
	}
	poll(t, "the call's answer", func() bool { return strings.Contains(out.String(), `"id":1`) })
	in.Close()
	c.Wait()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dir, ".agentos", "agentos.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, size int
	if err := db.QueryRow(`SELECT count(*), coalesce(max(length(data)), 0) FROM audit WHERE kind = 'mcp.call'`).Scan(&n, &size); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d mcp.call events, want 1:\n%s", n, errb.String())
	}
	if size > 4<<10 {
		t.Errorf("the call's audit event is %d bytes: the client's name is kept whole", size)
	}
}

// TestServeOwnMessagesReadable: the redactor that guards what the API
// answers must not eat AgentOS's own words: a refused token is told how to
// send one, not "[REDACTED:password]".
func TestServeOwnMessagesReadable(t *testing.T) {
	s := startAPI(t)
	for _, auth := range []string{"", "Bearer aos_not-a-token"} {
		req, _ := http.NewRequest("GET", s.base+"/api/v1/tasks", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(b), "Authorization: Bearer TOKEN") || strings.Contains(string(b), "REDACTED") {
			t.Errorf("Authorization %q: %d %s", auth, resp.StatusCode, b)
		}
	}
}
