package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rogpeppe/go-internal/testscript"
)

// modelServers are the scripted model servers of the running scripts.
var modelServers sync.Map // name -> *modelServer

// modelServer is an OpenAI-compatible Chat Completions server that plans
// one change: the intent, then a plan that writes NOTES.md and checks it
// with cat. The first plan after each intent is refused by AgentOS (it
// deletes a file that does not exist), so a task plans with three calls:
// intent, a refused plan, a plan. Every answer reports the usage it was started with.
type modelServer struct {
	prompt, completion int
	rationale          string // of each step; "the request" unless given
	constraint         string // the intent's one constraint, when given
	question           string // the text of a question its plans ask, when given
	calls              atomic.Int64
	plans              atomic.Int64
}

func (m *modelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.calls.Add(1)
	var content string
	if strings.Contains(string(body), `"name":"agentos_intent"`) {
		m.plans.Store(0) // each planning run's first plan is refused
		constraints := "[]"
		if m.constraint != "" {
			b, _ := json.Marshal([]string{m.constraint})
			constraints = string(b)
		}
		content = `{"goal":"add NOTES.md","kind":"docs","scope":["NOTES.md"],"constraints":` + constraints + `,"acceptance":["NOTES.md exists"],"assumptions":[],"risk":"low","open_questions":[]}`
	} else {
		why, _ := json.Marshal(m.rationale)
		step := `{"kind":"write","path":"NOTES.md","content":"# Notes\n","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":` + string(why) + `,"risk":"low"}`
		if m.plans.Add(1) == 1 {
			step = `{"kind":"delete","path":"docs/imaginary.md","content":"","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"made up","risk":"low"}`
		}
		questions := "[]"
		if m.question != "" {
			b, _ := json.Marshal([]map[string]any{{"id": "q1", "text": m.question, "why": "", "kind": "text", "options": []string{}, "default": "", "blocker": true}})
			questions = string(b)
		}
		content = `{"goal":"add NOTES.md","steps":[` + step + `],"verify":[{"name":"notes exist","argv":["cat","NOTES.md"],"timeout_ms":0}],"open_questions":` + questions + `}`
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "c1", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}},
		"usage":   map[string]any{"prompt_tokens": m.prompt, "completion_tokens": m.completion, "total_tokens": m.prompt + m.completion},
	})
}

// modelserver NAME PROMPT COMPLETION [FIELD=TEXT] starts a scripted model
// server on 127.0.0.1 whose every answer reports PROMPT and COMPLETION
// tokens; FIELD=TEXT puts TEXT in its answers as the steps' rationale, the
// intent's constraint or a plan's question. $NAME_URL is its base URL
// (…/v1). It stops with the script.
func cmdModelServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: modelserver NAME PROMPT COMPLETION [rationale|constraint|question=TEXT]")
	}
	p, err1 := strconv.Atoi(args[1])
	c, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		ts.Fatalf("modelserver: token counts must be numbers")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	m := &modelServer{prompt: p, completion: c, rationale: "the request"}
	if len(args) == 4 {
		field, text, _ := strings.Cut(args[3], "=")
		switch field {
		case "rationale":
			m.rationale = text
		case "constraint":
			m.constraint = text
		case "question":
			m.question = text
		default:
			ts.Fatalf("modelserver: %q: want rationale=, constraint= or question=", args[3])
		}
	}
	srv := &http.Server{Handler: m}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	modelServers.Store(ts.Getenv("WORK")+"/"+args[0], m)
	ts.Setenv(args[0]+"_URL", fmt.Sprintf("http://%s/v1", ln.Addr()))
}

// modelcalls NAME N checks that the model server NAME was called exactly N
// times: a judgement made at the model, not from agentos's output.
func cmdModelCalls(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: modelcalls NAME N")
	}
	v, ok := modelServers.Load(ts.Getenv("WORK") + "/" + args[0])
	if !ok {
		ts.Fatalf("modelcalls: no model server %s", args[0])
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	got := int(v.(*modelServer).calls.Load())
	if (got == want) == neg {
		ts.Fatalf("model server %s was called %d times, want %s%d", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}
