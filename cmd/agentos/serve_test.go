package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos/httpapi"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// apiServer is a real `agentos serve` over a real repository and store.
type apiServer struct {
	t     testing.TB
	bin   string
	repo  string
	keys  string
	base  string
	tok   map[string]string // token name -> secret
	doc   map[string]any    // the OpenAPI document the server serves
	comp  *jsonschema.Compiler
	mu    sync.Mutex
	calls map[string]bool // "METHOD template" exercised, and its statuses
	log   *lockedBuffer   // what the server printed
	proc  *exec.Cmd       // the server process
	// exited is closed once the server process ended (exitErr is why).
	exited  chan struct{}
	exitErr error
}

// lockedBuffer is a bytes.Buffer the server process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// needProg fails under CI=true when prog is missing, else skips.
func needProg(t testing.TB, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not installed: %v", prog, err)
		}
		t.Skipf("%s not installed", prog)
	}
}

func (s *apiServer) run(args ...string) string {
	s.t.Helper()
	c := exec.Command(s.bin, append([]string{"-C", s.repo}, args...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		s.t.Fatalf("agentos %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

func (s *apiServer) git(args ...string) string {
	s.t.Helper()
	c := exec.Command("git", args...)
	c.Dir = s.repo
	c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@e", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@e")
	out, err := c.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// startAPI makes a repository whose policy lists alice and bob as signers
// (SSH keys made here), tokens for every role, and starts `agentos serve`
// on a free port with extra flags.
func startAPI(t testing.TB, flags ...string) *apiServer {
	t.Helper()
	needProg(t, "ssh-keygen")
	bin, err := exec.LookPath("agentos")
	if err != nil {
		t.Fatal(err)
	}
	s := &apiServer{t: t, bin: bin, repo: t.TempDir(), keys: t.TempDir(), tok: map[string]string{}, calls: map[string]bool{}}
	s.git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(s.repo, "README.md"), []byte("# api\n"), 0o644)
	s.git("add", ".")
	s.git("commit", "-q", "-m", "initial")
	s.run("init")
	var signersYAML strings.Builder
	signersYAML.WriteString("signers:\n")
	for _, n := range []string{"alice", "bob"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", filepath.Join(s.keys, n)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(filepath.Join(s.keys, n+".pub"))
		fmt.Fprintf(&signersYAML, "  - %s %s\n", n, strings.TrimSpace(string(pub)))
	}
	// mallory's key is no listed signer's.
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mallory", "-f", filepath.Join(s.keys, "mallory")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pol := filepath.Join(s.repo, "agentos.yaml")
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("\napprovers: []\n"), []byte("\napprovers: [alice, bob]\n"), 1)
	b = append(b, signersYAML.String()...)
	os.WriteFile(pol, b, 0o644)
	s.git("add", "agentos.yaml")
	s.git("commit", "-q", "-m", "policy: alice and bob sign")
	for name, role := range map[string]string{"vic": "viewer", "sam": "submitter", "ann": "answerer", "alice": "approver", "bob": "approver", "carol": "approver", "adm": "admin"} {
		s.tok[name] = s.run("token", "create", "--name", name, "--role", role)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"-C", s.repo, "serve", "--listen", addr}, flags...)...)
	logb := &lockedBuffer{}
	s.log = logb
	cmd.Stdout, cmd.Stderr = logb, logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.proc, s.exited = cmd, make(chan struct{})
	go func() { s.exitErr = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logb.String())
		}
	})
	s.base = "http://" + addr
	for try := 0; ; try++ {
		resp, err := http.Get(s.base + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if try == 400 {
			t.Fatalf("agentos serve did not come up: %v\n%s", err, logb.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	resp, err := http.Get(s.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &s.doc); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	s.comp = jsonschema.NewCompiler()
	s.comp.DefaultDraft(jsonschema.Draft2020)
	if err := s.comp.AddResource("https://agentos.test/openapi.json", inst); err != nil {
		t.Fatal(err)
	}
	return s
}

// reply is one response, checked against the OpenAPI document.
type reply struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r reply) json(t testing.TB) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func (r reply) code() string {
	var e httpapi.Error
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// call sends METHOD template (with {id} replaced) as token's holder
// ("" : no token) and checks the response against the operation's
// documented response for its status: an undocumented status, or a body
// that its schema refuses, fails the test.
func (s *apiServer) call(token, method, template, id string, query url.Values, body any) reply {
	s.t.Helper()
	path := strings.Replace(template, "{id}", url.PathEscape(id), 1)
	u := s.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+s.tok[token])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Body: b, Header: resp.Header}
	s.check(method, template, r)
	return r
}

// check validates r against the document's schema for (method, template,
// status) and records the call.
func (s *apiServer) check(method, template string, r reply) {
	s.t.Helper()
	op, _ := s.doc["paths"].(map[string]any)[template].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		s.t.Fatalf("%s %s is not in /openapi.json", method, template)
	}
	ptr := "#/paths/" + escPtr(template) + "/" + strings.ToLower(method) + "/responses/" + fmt.Sprint(r.Status)
	resp, ok := op["responses"].(map[string]any)[fmt.Sprint(r.Status)].(map[string]any)
	if !ok {
		s.t.Fatalf("%s %s answered %d, which /openapi.json does not document: %s", method, template, r.Status, r.Body)
	}
	if ref, ok := resp["$ref"].(string); ok {
		ptr = ref
	}
	sch, err := s.comp.Compile("https://agentos.test/openapi.json" + ptr + "/content/application~1json/schema")
	if err != nil {
		s.t.Fatalf("schema of %s %s %d: %v", method, template, r.Status, err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("%s %s: Content-Type %q", method, template, ct)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
	if err != nil {
		s.t.Fatalf("%s %s %d: body is not JSON: %v: %s", method, template, r.Status, err, r.Body)
	}
	if err := sch.Validate(inst); err != nil {
		s.t.Errorf("%s %s %d: the response does not match /openapi.json: %v\nbody: %s", method, template, r.Status, err, r.Body)
	}
	s.mu.Lock()
	s.calls[method+" "+template] = true
	if r.Status < 300 {
		s.calls[method+" "+template+" ok"] = true
	}
	s.mu.Unlock()
}

func escPtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// sign signs statement bytes with key as `ssh-keygen -Y sign -n agentos`.
func (s *apiServer) sign(key string, statement []byte) string {
	s.t.Helper()
	f := filepath.Join(s.t.TempDir(), "statement.json")
	os.WriteFile(f, statement, 0o644)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", "agentos", "-f", filepath.Join(s.keys, key), f).CombinedOutput(); err != nil {
		s.t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		s.t.Fatal(err)
	}
	return string(sig)
}

func (s *apiServer) sqlExec(q string, args ...any) {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.repo, ".agentos", "agentos.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		s.t.Fatal(err)
	}
}

func tokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func (s *apiServer) sqlCount(q string, args ...any) int {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.repo, ".agentos", "agentos.db")+"?mode=ro")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func taskOf(t *testing.T, r reply) (id, state, outcome string) {
	t.Helper()
	m := r.json(t)
	task, _ := m["task"].(map[string]any)
	if task == nil {
		t.Fatalf("no task in %s", r.Body)
	}
	if o, ok := m["outcome"].(map[string]any); ok {
		outcome, _ = o["code"].(string)
	}
	return task["id"].(string), task["state"].(string), outcome
}

const ciPlan = "version: 1\ngoal: add a CI workflow %[1]s\nsteps:\n  - write: {path: .github/workflows/%[1]s.yml, content: \"on: push\\n\"}\nverify:\n  - argv: [test, -f, .github/workflows/%[1]s.yml]\n"

const releasePlan = `version: 1
goal: Cut a release
params:
  - {id: version, question: "Which version?", blocker: true}
steps:
  - write: {path: VERSION, content: "{{ .params.version }}\n"}
    template: true
verify:
  - argv: [grep, -q, "{{ .params.version }}", VERSION]
    template: true
`

// TestServeAPI drives every route of the API through real HTTP against
// the real binary, a real store and a real git repository, checks every
// response against /openapi.json, and judges the decisions by git and the
// store: a signed approval commits, a token alone never approves.
func TestServeAPI(t *testing.T) {
	s := startAPI(t)
	main0 := s.git("rev-parse", "main")

	// The document itself, and who the tokens are.
	s.call("", "GET", "/openapi.json", "", nil, nil)
	s.call("", "GET", "/api/v1/health", "", nil, nil)
	if r := s.call("", "GET", "/api/v1/whoami", "", nil, nil); r.Status != 401 || r.code() != "denied" {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
	if m := s.call("alice", "GET", "/api/v1/whoami", "", nil, nil).json(t); m["actor"] != "human:alice" || m["role"] != "approver" {
		t.Fatalf("whoami: %v", m)
	}

	// 1. Submit a plan that needs approval (it writes CI configuration).
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": fmt.Sprintf(ciPlan, "ci1"), "name": "ci1.yaml"})
	t1, st, out := taskOf(t, r)
	if r.Status != 201 || st != "awaiting_approval" || out != "awaiting_approval" {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	page := s.call("vic", "GET", "/api/v1/tasks/{id}", t1, nil, nil).json(t)
	plan := page["plan"].(map[string]any)
	hash, planID := plan["hash"].(string), plan["id"].(string)
	if ds := page["gate_decisions"].([]any); len(ds) == 0 {
		t.Fatalf("no gate decisions on the task page: %v", page)
	}
	if page["task"].(map[string]any)["submitter"] != "human:sam" {
		t.Fatalf("the task is not sam's: %v", page["task"])
	}
	s.call("vic", "GET", "/api/v1/tasks/{id}/plan", t1, nil, nil)
	s.call("vic", "GET", "/api/v1/plans/{id}", planID, nil, nil)
	s.call("vic", "GET", "/api/v1/tasks/{id}/memory-pack", t1, nil, nil)
	s.call("vic", "GET", "/api/v1/tasks/{id}/explain", t1, nil, nil)

	// 2. A token alone never approves: no signature, mallory's key, bob's
	// signature over a statement naming alice, a statement for another
	// plan hash. Judged by the store (no approval row) and git.
	if r := s.call("alice", "POST", "/api/v1/tasks/{id}/approve", t1, nil, map[string]any{"plan": hash}); r.Status != 403 || r.code() != "denied" {
		t.Fatalf("approve without a signature: %d %s", r.Status, r.Body)
	}
	stmt := s.call("alice", "GET", "/api/v1/tasks/{id}/approval-statement", t1, url.Values{"plan": {hash}}, nil)
	if stmt.Status != 200 {
		t.Fatalf("approval-statement: %d %s", stmt.Status, stmt.Body)
	}
	for _, key := range []string{"mallory", "bob"} {
		sig := s.sign(key, stmt.Body)
		r := s.call("alice", "POST", "/api/v1/tasks/{id}/approve", t1, nil, map[string]any{"plan": hash, "signed": map[string]any{"statement": string(stmt.Body), "signature": sig}})
		if r.Status != 403 {
			t.Fatalf("approve signed by %s's key for alice: %d %s", key, r.Status, r.Body)
		}
	}
	// A valid signature over another decision (a rejection) is no approval.
	rej := s.call("alice", "GET", "/api/v1/tasks/{id}/approval-statement", t1, url.Values{"decision": {"reject"}, "reason": {"no"}}, nil)
	r = s.call("alice", "POST", "/api/v1/tasks/{id}/approve", t1, nil, map[string]any{"plan": hash, "signed": map[string]any{"statement": string(rej.Body), "signature": s.sign("alice", rej.Body)}})
	if r.Status < 400 {
		t.Fatalf("a signed rejection statement approved: %d %s", r.Status, r.Body)
	}
	if n := s.sqlCount(`SELECT count(*) FROM approvals WHERE task = ?`, t1); n != 0 {
		t.Fatalf("%d approval rows after refused approvals", n)
	}
	// carol holds an approver token but no listed key: she cannot decide.
	r = s.call("carol", "GET", "/api/v1/tasks/{id}/approval-statement", t1, url.Values{"plan": {hash}}, nil)
	if r.Status == 200 {
		r = s.call("carol", "POST", "/api/v1/tasks/{id}/approve", t1, nil, map[string]any{"plan": hash, "signed": map[string]any{"statement": string(r.Body), "signature": s.sign("mallory", r.Body)}})
	}
	if r.Status != 403 {
		t.Fatalf("carol approved: %d %s", r.Status, r.Body)
	}

	// 3. alice signs the exact statement: the approval counts, the task is
	// queued, and applying it commits on main.
	sig := s.sign("alice", stmt.Body)
	r = s.call("alice", "POST", "/api/v1/tasks/{id}/approve", t1, nil, map[string]any{"plan": hash, "comment": "", "signed": map[string]any{"statement": string(stmt.Body), "signature": sig}})
	if r.Status != 200 {
		t.Fatalf("signed approve: %d %s", r.Status, r.Body)
	}
	if m := r.json(t); m["queued"] != true {
		t.Fatalf("signed approval did not queue the task: %s", r.Body)
	}
	if s.git("rev-parse", "main") != main0 {
		t.Fatal("main moved before apply")
	}
	r = s.call("sam", "POST", "/api/v1/tasks/{id}/apply", t1, nil, nil)
	if _, st, out := taskOf(t, r); st != "committed" || out != "" {
		t.Fatalf("apply: %s", r.Body)
	}
	if err := exec.Command("git", "-C", s.repo, "cat-file", "-e", "main:.github/workflows/ci1.yml").Run(); err != nil {
		t.Fatalf("the approved plan is not on main: %v", err)
	}
	// The approval event carries alice's signature, which ssh-keygen
	// verifies by hand.
	ev := s.call("vic", "GET", "/api/v1/audit", "", url.Values{"task": {t1}, "kind": {"approval"}}, nil).json(t)["events"].([]any)
	if len(ev) != 1 || ev[0].(map[string]any)["actor"] != "human:alice" {
		t.Fatalf("approval events: %v", ev)
	}
	signed := ev[0].(map[string]any)["data"].(map[string]any)["signed"].(map[string]any)
	allowed := filepath.Join(s.t.TempDir(), "allowed")
	pub, _ := os.ReadFile(filepath.Join(s.keys, "alice.pub"))
	os.WriteFile(allowed, []byte("alice namespaces=\"agentos\" "+string(pub)), 0o644)
	sigf := filepath.Join(s.t.TempDir(), "sig")
	os.WriteFile(sigf, []byte(signed["signature"].(string)), 0o644)
	vc := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", "agentos", "-s", sigf)
	vc.Stdin = strings.NewReader(signed["statement"].(string))
	if out, err := vc.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify of the recorded approval: %v\n%s", err, out)
	}
	s.call("vic", "GET", "/api/v1/tasks/{id}/review", t1, nil, nil)
	s.call("vic", "GET", "/api/v1/tasks/{id}/approvals", t1, nil, nil)

	// 4. Questions, answered with a signature; the submitted task goes
	// back to the queue.
	r = s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": releasePlan})
	t2, st, out := taskOf(t, r)
	if st != "blocked" || out != "blocked" {
		t.Fatalf("release plan: %s", r.Body)
	}
	s.call("vic", "GET", "/api/v1/tasks/{id}/questions", t2, nil, nil)
	answers := []map[string]any{{"question": "version", "value": "2.0.0"}}
	if r := s.call("ann", "POST", "/api/v1/tasks/{id}/answers", t2, nil, map[string]any{"answers": answers}); r.Status != 403 {
		t.Fatalf("unsigned answers: %d %s", r.Status, r.Body)
	}
	ast := s.call("alice", "POST", "/api/v1/tasks/{id}/answer-statement", t2, nil, map[string]any{"answers": answers})
	if ast.Status != 200 {
		t.Fatalf("answer-statement: %d %s", ast.Status, ast.Body)
	}
	// Signed answers other than the ones sent are refused.
	other := []map[string]any{{"question": "version", "value": "6.6.6"}}
	if r := s.call("alice", "POST", "/api/v1/tasks/{id}/answers", t2, nil, map[string]any{"answers": other, "signed": map[string]any{"statement": string(ast.Body), "signature": s.sign("alice", ast.Body)}}); r.Status < 400 {
		t.Fatalf("answers other than signed were taken: %d %s", r.Status, r.Body)
	}
	r = s.call("alice", "POST", "/api/v1/tasks/{id}/answers", t2, nil, map[string]any{"answers": answers, "signed": map[string]any{"statement": string(ast.Body), "signature": s.sign("alice", ast.Body)}})
	if _, st, _ := taskOf(t, r); st != "queued" {
		t.Fatalf("signed answers: %d %s", r.Status, r.Body)
	}

	// 5. Plan only, re-plan, cancel; and a signed rejection.
	r = s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": "version: 1\ngoal: note\nsteps:\n  - write: {path: note.txt, content: \"x\\n\"}\nverify:\n  - argv: [test, -f, note.txt]\n", "plan_only": true})
	t3, st, _ := taskOf(t, r)
	if st != "planned" {
		t.Fatalf("plan only: %s", r.Body)
	}
	s.call("sam", "POST", "/api/v1/tasks/{id}/replan", t3, nil, nil)
	if _, st, _ := taskOf(t, s.call("sam", "POST", "/api/v1/tasks/{id}/cancel", t3, nil, map[string]any{"reason": "not needed"})); st != "cancelled" {
		t.Fatalf("cancel: %s", st)
	}
	r = s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": fmt.Sprintf(ciPlan, "ci2")})
	t4, _, _ := taskOf(t, r)
	rs := s.call("bob", "GET", "/api/v1/tasks/{id}/approval-statement", t4, url.Values{"decision": {"reject"}, "reason": {"not now"}}, nil)
	r = s.call("bob", "POST", "/api/v1/tasks/{id}/reject", t4, nil, map[string]any{"plan": "", "reason": "not now", "signed": map[string]any{"statement": string(rs.Body), "signature": s.sign("bob", rs.Body)}})
	if _, st, _ := taskOf(t, r); st != "rejected" {
		t.Fatalf("signed reject: %s", r.Body)
	}

	// 6. Lists paginate without losing or repeating a task.
	var seen []string
	q := url.Values{"limit": {"1"}}
	for range 10 {
		m := s.call("vic", "GET", "/api/v1/tasks", "", q, nil).json(t)
		for _, x := range m["tasks"].([]any) {
			seen = append(seen, x.(map[string]any)["id"].(string))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		q.Set("cursor", next)
	}
	want := []string{t4, t3, t2, t1}
	if !slices.Equal(seen, want) {
		t.Fatalf("paged task list %v, want %v", seen, want)
	}
	s.call("vic", "GET", "/api/v1/tasks", "", url.Values{"state": {"rejected"}}, nil)
	var events int
	aq := url.Values{"limit": {"7"}}
	for range 200 {
		m := s.call("vic", "GET", "/api/v1/audit", "", aq, nil).json(t)
		events += len(m["events"].([]any))
		next, _ := m["next_from"].(float64)
		if next == 0 {
			break
		}
		aq.Set("from", fmt.Sprint(int64(next)))
	}
	if total := s.sqlCount(`SELECT count(*) FROM audit`); events != total {
		t.Fatalf("paged audit log has %d events, the store %d", events, total)
	}
	if m := s.call("vic", "GET", "/api/v1/audit/verify", "", nil, nil).json(t); m["report"].(map[string]any)["ok"] != true {
		t.Fatalf("audit verify: %v", m)
	}

	// 7. Memory, locks, tokens.
	s.call("vic", "POST", "/api/v1/memory/search", "", nil, map[string]any{"text": "release version"})
	s.call("vic", "GET", "/api/v1/locks", "", nil, nil)
	if r := s.call("adm", "POST", "/api/v1/locks/{id}/release", "lk_none", nil, map[string]any{"reason": "gone"}); r.Status != 404 {
		t.Fatalf("release of an unknown lock: %d %s", r.Status, r.Body)
	}
	if m := s.call("adm", "GET", "/api/v1/tokens", "", nil, nil).json(t); len(m["tokens"].([]any)) != 7 || strings.Contains(string(mustJSON(m)), "aos_") {
		t.Fatalf("token list: %v", m)
	}

	// 8. Every write was audited as the token's holder.
	if n := s.sqlCount(`SELECT count(*) FROM audit WHERE kind = 'task.created' AND actor = 'human:sam'`); n != 4 {
		t.Fatalf("%d task.created events by human:sam, want 4", n)
	}
	if n := s.sqlCount(`SELECT count(*) FROM audit WHERE kind = 'task.cancel_requested' AND actor = 'human:sam'`) + s.sqlCount(`SELECT count(*) FROM audit WHERE kind = 'task.transition' AND actor = 'human:sam' AND task = ?`, t3); n == 0 {
		t.Fatal("the cancel is not audited as human:sam")
	}

	// 9. Every documented route was exercised, and each answered a success
	// at least once (but the lock release: no lock is held here).
	for path, item := range s.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			k := strings.ToUpper(method) + " " + path
			if !s.calls[k] {
				t.Errorf("%s was never called", k)
			} else if !s.calls[k+" ok"] && k != "POST /api/v1/locks/{id}/release" {
				t.Errorf("%s never answered a success", k)
			}
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestServeRoles: each role is refused, with 403 and the denied code,
// every route that needs a higher one (the x-agentos-role of each
// operation in /openapi.json); revoked, expired and unknown tokens and a
// token in the URL are refused too.
func TestServeRoles(t *testing.T) {
	s := startAPI(t)
	roles := []string{"viewer", "submitter", "answerer", "approver", "admin"}
	holder := map[string]string{"viewer": "vic", "submitter": "sam", "answerer": "ann", "approver": "alice", "admin": "adm"}
	refused := 0
	for path, item := range s.doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			need, _ := o.(map[string]any)["x-agentos-role"].(string)
			if need == "none" {
				continue
			}
			at := slices.Index(roles, need)
			if at < 0 {
				t.Fatalf("%s %s: x-agentos-role %q", method, path, need)
			}
			for _, role := range roles[:at] {
				r := s.call(holder[role], strings.ToUpper(method), path, "t_x", nil, map[string]any{})
				if r.Status != 403 || r.code() != "denied" {
					t.Errorf("%s %s as %s (needs %s): %d %s", method, path, role, need, r.Status, r.Body)
				}
				refused++
			}
			// The role itself is not refused for its role.
			r := s.call(holder[need], strings.ToUpper(method), path, "t_x", nil, map[string]any{})
			if r.Status == 403 && strings.Contains(string(r.Body), "that needs the") {
				t.Errorf("%s %s as %s: refused its own role: %s", method, path, need, r.Body)
			}
		}
	}
	if refused < 20 {
		t.Fatalf("only %d refusals checked", refused)
	}

	// Revoked: refused at once. Expired: refused. Unknown: refused.
	s.run("token", "revoke", "vic")
	if r := s.call("vic", "GET", "/api/v1/tasks", "", nil, nil); r.Status != 401 {
		t.Fatalf("revoked token: %d %s", r.Status, r.Body)
	}
	s.tok["eve"] = s.run("token", "create", "--name", "eve", "--role", "admin", "--expires", "1s")
	time.Sleep(1100 * time.Millisecond)
	if r := s.call("eve", "GET", "/api/v1/tasks", "", nil, nil); r.Status != 401 {
		t.Fatalf("expired token: %d %s", r.Status, r.Body)
	}
	s.tok["unknown"] = "aos_" + strings.Repeat("A", 43)
	if r := s.call("unknown", "GET", "/api/v1/tasks", "", nil, nil); r.Status != 401 {
		t.Fatalf("unknown token: %d %s", r.Status, r.Body)
	}
	// Someone who writes the store: a token row without its audit event
	// (an admin token made by hand) and a revocation erased from a row
	// grant nothing. Judged by the task the forged token tries to cancel.
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": "version: 1\ngoal: note\nsteps:\n  - write: {path: note.txt, content: \"x\\n\"}\nverify:\n  - argv: [test, -f, note.txt]\n", "plan_only": true})
	task, _, _ := taskOf(t, r)
	s.tok["forged"] = "aos_" + strings.Repeat("B", 43)
	s.sqlExec(`INSERT INTO api_tokens (id, name, actor, role, hash, created_at, created_by) VALUES ('tok_00000000000000ff', 'mallory', 'human:mallory', 'admin', ?, '2026-01-01T00:00:00.000000000Z', 'human:root')`, tokenHash(s.tok["forged"]))
	s.sqlExec(`UPDATE api_tokens SET revoked_at = '', revoked_by = '' WHERE name = 'vic'`)
	for _, who := range []string{"forged", "vic"} {
		if r := s.call(who, "POST", "/api/v1/tasks/{id}/cancel", task, nil, nil); r.Status != 401 {
			t.Errorf("%s token from a hand-written row: %d %s", who, r.Status, r.Body)
		}
	}
	if n := s.sqlCount(`SELECT count(*) FROM tasks WHERE id = ? AND state = 'planned'`, task); n != 1 {
		t.Fatal("a hand-written token row cancelled a task")
	}
	// A token in the URL is refused, whatever it is.
	resp, err := http.Get(s.base + "/api/v1/tasks?access_token=" + url.QueryEscape(s.tok["adm"]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("token in the URL: %d", resp.StatusCode)
	}
	// No token reaches the server's log, not even one sent in a URL.
	for name, secret := range s.tok {
		if strings.Contains(s.log.String(), secret) {
			t.Errorf("the server's log holds %s's token", name)
		}
	}
	// The store keeps no secret: only hashes.
	if n := s.sqlCount(`SELECT count(*) FROM api_tokens WHERE hash LIKE 'aos_%' OR length(hash) != 64`); n != 0 {
		t.Fatalf("%d tokens stored other than as a SHA-256", n)
	}
	// Making and revoking tokens are audited as the local admin.
	if n := s.sqlCount(`SELECT count(*) FROM audit WHERE kind = 'token.revoked'`); n != 1 {
		t.Fatalf("%d token.revoked events", n)
	}
	// An agent's token never answers or approves.
	c := exec.Command(s.bin, "-C", s.repo, "token", "create", "--name", "bot", "--agent", "--role", "approver")
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "answering and approving are a person's") {
		t.Fatalf("an agent approver token was made: %v %s", err, out)
	}
}

// TestServeMisbehavingClients: 1,000 idle connections, a client that
// never finishes its headers and one that sends a body far over the limit
// do not stop the server answering others, and the limits hold.
func TestServeMisbehavingClients(t *testing.T) {
	s := startAPI(t, "--max-body", "65536", "--rate", "1000", "--burst", "1000")
	addr := strings.TrimPrefix(s.base, "http://")
	ok := func(what string) {
		t.Helper()
		if r := s.call("vic", "GET", "/api/v1/tasks", "", nil, nil); r.Status != 200 {
			t.Fatalf("%s: the server does not answer: %d %s", what, r.Status, r.Body)
		}
	}
	// 1,000 idle connections.
	var idle []net.Conn
	for i := range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	ok("with 1,000 idle connections")
	// A slow client: half a request line, then nothing. The server hangs
	// up on it (ReadHeaderTimeout) while answering others.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(slow, "GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\n")
	ok("with a slow client")
	slow.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := bufio.NewReader(slow).ReadByte(); err == nil {
		// A 408 may be written before the close; the close must follow.
		if _, err := io.ReadAll(slow); err != nil {
			t.Fatalf("the server kept a slow client's connection: %v", err)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a slow client's connection open")
	}
	slow.Close()
	// The idle ones were dropped too.
	idle[0].SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("an idle connection got data")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept an idle connection open")
	}
	for _, c := range idle {
		c.Close()
	}
	// A huge body: refused with 413 after the limit, the rest unread.
	huge := bytes.Repeat([]byte("a"), 64<<20)
	req, _ := http.NewRequest("POST", s.base+"/api/v1/tasks", bytes.NewReader(append(append([]byte(`{"plan":"`), huge...), `"}`...)))
	req.Header.Set("Authorization", "Bearer "+s.tok["sam"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.check("POST", "/api/v1/tasks", reply{Status: resp.StatusCode, Body: b, Header: resp.Header})
		if resp.StatusCode != 413 {
			t.Fatalf("huge body: %d %s", resp.StatusCode, b)
		}
	} // else: the server closed the connection while the client still wrote
	ok("after a huge body")
	if n := s.sqlCount(`SELECT count(*) FROM tasks`); n != 0 {
		t.Fatalf("%d tasks after a refused body", n)
	}
	// Concurrent writers: each request has its own session, as concurrent
	// CLI commands do; every one lands, and the chain still verifies.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			plan := fmt.Sprintf("version: 1\ngoal: note %d\nsteps:\n  - write: {path: n%d.txt, content: \"x\\n\"}\nverify:\n  - argv: [test, -f, n%d.txt]\n", i, i, i)
			if r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": plan}); r.Status != 201 {
				t.Errorf("concurrent submit %d: %d %s", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if n := s.sqlCount(`SELECT count(*) FROM tasks WHERE state = 'queued'`); n != 12 {
		t.Fatalf("%d queued tasks after 12 concurrent submits", n)
	}
	s.run("audit", "verify")
	// The rate limit answers 429 with Retry-After once a token's burst is spent.
	s2 := startAPI(t, "--rate", "1", "--burst", "3")
	var last reply
	for range 5 {
		last = s2.call("vic", "GET", "/api/v1/whoami", "", nil, nil)
	}
	if last.Status != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d %s", last.Status, last.Body)
	}
}

// TestServeListen: a non-loopback address without TLS is refused (nothing
// listens); with a certificate it serves HTTPS only, with HSTS.
func TestServeListen(t *testing.T) {
	s := startAPI(t)
	port := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		return p
	}
	p := port()
	c := exec.Command(s.bin, "-C", s.repo, "serve", "--listen", "0.0.0.0:"+p)
	out, err := c.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is not a loopback address: serve it with TLS") {
		t.Fatalf("serve on 0.0.0.0 without TLS: %v %s", err, out)
	}
	if conn, err := net.Dial("tcp", "127.0.0.1:"+p); err == nil {
		conn.Close()
		t.Fatal("something listens on the refused address")
	}

	// A self-signed certificate for 127.0.0.1.
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	p = port()
	srv := exec.Command(s.bin, "-C", s.repo, "serve", "--listen", "0.0.0.0:"+p, "--tls-cert", certFile, "--tls-key", keyFile)
	var logb bytes.Buffer
	srv.Stdout, srv.Stderr = &logb, &logb
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for try := 0; ; try++ {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+p+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+s.tok["vic"])
		if resp, err = client.Do(req); err == nil {
			break
		}
		if try == 400 {
			t.Fatalf("HTTPS serve did not come up: %v\n%s", err, logb.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("over TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port carries no API response.
	if resp, err := http.Get("http://127.0.0.1:" + p + "/api/v1/health"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP answered on the TLS port: %s", b)
		}
	}
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agentos test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeRedacts: secrets in a goal and in a failing check's output do
// not reach an API response (outcome, task page, audit log) nor the
// server's log.
func TestServeRedacts(t *testing.T) {
	s := startAPI(t)
	os.WriteFile(filepath.Join(s.repo, "creds.txt"), []byte("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"), 0o644)
	s.git("add", "creds.txt")
	s.git("commit", "-q", "-m", "credentials a check will print")
	plan := "version: 1\ngoal: \"rotate ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u before Friday\"\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [cat, nonexistent, creds.txt]\n"
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": plan, "plan_only": true})
	task, _, _ := taskOf(t, r)
	bodies := [][]byte{r.Body}
	r = s.call("sam", "POST", "/api/v1/tasks/{id}/apply", task, nil, nil)
	if _, st, out := taskOf(t, r); st != "failed" || out != "failed" {
		t.Fatalf("apply: %s", r.Body)
	}
	if !strings.Contains(string(r.Body), "REDACTED") {
		t.Errorf("the outcome does not show the redaction: %s", r.Body)
	}
	bodies = append(bodies, r.Body, s.call("vic", "GET", "/api/v1/tasks/{id}", task, nil, nil).Body,
		s.call("vic", "GET", "/api/v1/audit", "", url.Values{"task": {task}, "limit": {"500"}}, nil).Body,
		s.call("vic", "GET", "/api/v1/tasks/{id}/review", task, nil, nil).Body)
	for _, b := range bodies {
		for _, secret := range []string{"ghp_R8xQ2mK9", "wJalrXUtnFEMI"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("a response holds %s: %s", secret, b)
			}
		}
	}
}
