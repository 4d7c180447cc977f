package cli

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/agentos/agentos/mcpserver"
	"github.com/agentos/agentos/signers"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/crypto/ssh"
)

// pinOf is a valid pin of one tool for server.
func pinOf(t *testing.T, server, desc string) agentos.MCPPinEvent {
	t.Helper()
	p, err := mcpgateway.NewPin(server, []*mcp.Tool{{Name: "echo", Description: desc, InputSchema: map[string]any{"type": "object"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func appendPin(t *testing.T, db agentos.Store, actor agentos.Actor, p agentos.MCPPinEvent) {
	t.Helper()
	if _, err := db.Append(t.Context(), agentos.EventInput{Actor: actor, Kind: agentos.EventMCPPin, Data: p}); err != nil {
		t.Fatal(err)
	}
}

// A pin counts only as a person's approval of exactly the tools it lists:
// one recorded by an agent, or whose tool hashes do not add up to its
// hash, is passed over for the last one that does.
func TestLatestPinSolo(t *testing.T) {
	dir := mustGovernedRepo(t, basePolicy)
	f := NewFactory(strings.NewReader(""), os.Stdout, os.Stderr)
	f.Dir = dir
	defer f.Close()
	db, err := f.DB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := latestPin(t.Context(), f, db, "fake"); err != nil || p != nil {
		t.Fatalf("latestPin with none = %v, %v; want nil", p, err)
	}
	good := pinOf(t, "fake", "Echo.")
	appendPin(t, db, agentos.Human("alice"), good)
	appendPin(t, db, agentos.Agent("mcp"), pinOf(t, "fake", "Echo, by the agent."))
	forged := pinOf(t, "fake", "Echo.")
	forged.Tools[0].Hash = pinOf(t, "fake", "Echo, and more.").Tools[0].Hash
	appendPin(t, db, agentos.Human("alice"), forged)
	appendPin(t, db, agentos.System, pinOf(t, "fake", "Echo, by the system."))
	appendPin(t, db, agentos.Human("alice"), pinOf(t, "other", "Another server."))
	p, err := latestPin(t.Context(), f, db, "fake")
	if err != nil || p == nil || p.Hash != good.Hash {
		t.Fatalf("latestPin = %+v, %v; want the person's pin %s", p, err, good.Hash)
	}
}

// With signers listed, a pin counts only with a signature over its server
// and hash by a signer with the approve role, who is its actor.
func TestLatestPinSigned(t *testing.T) {
	dir := gateRepo(t, "")
	f := NewFactory(strings.NewReader(""), os.Stdout, os.Stderr)
	f.Dir = dir
	defer f.Close()
	db, err := f.DB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(name string, p agentos.MCPPinEvent) *agentos.SignedStatement {
		b, err := os.ReadFile(keyOf(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ssh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		msg := pinStatement(p.Server, p.Hash)
		sig, err := signers.Sign(k, msg)
		if err != nil {
			t.Fatal(err)
		}
		return &agentos.SignedStatement{Statement: string(msg), Signature: sig, Namespace: signers.Namespace, Key: ssh.FingerprintSHA256(k.PublicKey())}
	}
	good := pinOf(t, "fake", "Echo.")
	good.Signed = sign("ann", good)
	appendPin(t, db, agentos.Human("ann"), good)

	unsigned := pinOf(t, "fake", "Echo, unsigned.")
	appendPin(t, db, agentos.Human("ann"), unsigned)
	stolen := pinOf(t, "fake", "Echo, in bob's name.")
	stolen.Signed = sign("ann", stolen)
	appendPin(t, db, agentos.Human("bob"), stolen)
	replayed := pinOf(t, "fake", "Echo, with ann's old signature.")
	replayed.Signed = good.Signed
	appendPin(t, db, agentos.Human("ann"), replayed)

	p, err := latestPin(t.Context(), f, db, "fake")
	if err != nil || p == nil || p.Hash != good.Hash {
		t.Fatalf("latestPin = %+v, %v; want ann's signed pin %s", p, err, good.Hash)
	}
}

// submit_request goes through the configured planner (a scripted OpenAI-
// compatible model here) and the normal pipeline, as the agent: the task is
// the agent's, the change lands, and no tool answers or approves.
func TestMCPSubmitRequest(t *testing.T) {
	fm := &fakeModel{}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: openai
  openai:
    base_url: `+srv.URL+`/v1
    model: test-model
    api_key_env: AGENTOS_E2E_KEY
    max_retries: 0
`)
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	f.Dir = dir
	defer f.Close()
	b, err := newMCPBackend(t.Context(), f, "claude")
	if err != nil {
		t.Fatal(err)
	}
	ct, st := mcp.NewInMemoryTransports()
	if _, err := mcpserver.New(b, mcpserver.Options{Transport: "test"}).Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: mcpserver.ToolSubmitRequest, Arguments: map[string]any{"request": "add a notes file"}})
	if err != nil || res.IsError {
		t.Fatalf("submit_request: %v %+v", err, res)
	}
	var tv struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		Submitter string `json:"submitter"`
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &tv); err != nil || tv.State != "committed" || tv.Submitter != "agent:claude" {
		t.Fatalf("task = %s, want committed, submitted by agent:claude", raw)
	}
	if got := gitT(t, dir, "show", "main:NOTES.md"); got != "# Notes" {
		t.Errorf("main:NOTES.md = %q", got)
	}
	for _, name := range []string{"answer", "approve", "reject"} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{"task": tv.ID}})
		if err == nil && !res.IsError {
			t.Errorf("tool %s answered: %+v", name, res)
		}
	}
	evs := auditEvents(t, dir, agentos.EventMCPCall)
	if len(evs) == 0 || evs[0].Actor != "agent:claude" || !strings.Contains(string(evs[0].Data), `"task":"`+tv.ID+`"`) {
		t.Fatalf("mcp.call events = %+v, want the submission by agent:claude naming %s", evs, tv.ID)
	}
}
