package contractortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// FakeResponses is an OpenAI Responses API server (SSE streaming) for Codex:
// turn i of the conversation calls Script[i] (call id call_<i+1>) once the
// output of the previous call is back; then a final message. A shell call is
// sent through whichever shell tool the request offers (exec_command or
// shell), a patch through apply_patch (custom or function tool).
type FakeResponses struct {
	// Script gives each turn: Shell is a command line, Patch an apply_patch
	// text (one of the two).
	Script []func(cwd string) CodexCall
	// Cwd is the working directory Codex told the model.
	Cwd string

	mu      sync.Mutex
	results map[string]string
	tools   []string
}

// CodexCall is one scripted Codex tool call.
type CodexCall struct {
	Shell string
	Patch string
}

// Results returns the tool outputs Codex sent back, by call id.
func (f *FakeResponses) Results() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.results {
		out[k] = v
	}
	return out
}

// Tools returns the tool names of the last request.
func (f *FakeResponses) Tools() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tools...)
}

func (f *FakeResponses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/responses") {
		http.Error(w, `{"error":{"message":"not here"}}`, 404)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model        string           `json:"model"`
		Instructions string           `json:"instructions"`
		Input        []map[string]any `json:"input"`
		Tools        []map[string]any `json:"tools"`
	}
	json.Unmarshal(body, &req)
	f.mu.Lock()
	if f.results == nil {
		f.results = map[string]string{}
	}
	f.tools = f.tools[:0]
	toolType := map[string]string{}
	for _, t := range req.Tools {
		name, _ := t["name"].(string)
		typ, _ := t["type"].(string)
		f.tools = append(f.tools, name)
		toolType[name] = typ
	}
	answered := map[string]bool{}
	for _, it := range req.Input {
		typ, _ := it["type"].(string)
		if typ == "function_call_output" || typ == "custom_tool_call_output" {
			id, _ := it["call_id"].(string)
			answered[id] = true
			b, _ := json.Marshal(it["output"])
			f.results[id] = string(b)
		}
		if f.Cwd == "" {
			b, _ := json.Marshal(it["content"])
			if m := cwdCodexRe.FindStringSubmatch(string(b)); m != nil {
				f.Cwd = m[1]
			}
		}
	}
	var item map[string]any
	if len(req.Tools) > 0 {
		for i := range f.Script {
			id := fmt.Sprintf("call_%d", i+1)
			if answered[id] {
				continue
			}
			c := f.Script[i](f.Cwd)
			switch {
			case c.Patch != "" && toolType["apply_patch"] == "custom":
				item = map[string]any{"type": "custom_tool_call", "id": "ctc_" + id, "call_id": id, "name": "apply_patch", "input": c.Patch, "status": "completed"}
			case c.Patch != "":
				args, _ := json.Marshal(map[string]any{"input": c.Patch})
				item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": id, "name": "apply_patch", "arguments": string(args), "status": "completed"}
			case toolType["exec_command"] != "":
				args, _ := json.Marshal(map[string]any{"cmd": c.Shell})
				item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": id, "name": "exec_command", "arguments": string(args), "status": "completed"}
			default:
				args, _ := json.Marshal(map[string]any{"command": []string{"bash", "-lc", c.Shell}})
				item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": id, "name": "shell", "arguments": string(args), "status": "completed"}
			}
			break
		}
	}
	f.mu.Unlock()
	if item == nil {
		item = map[string]any{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": "Done.", "annotations": []any{}}}}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	seq := 0
	ev := func(name string, data map[string]any) {
		data["type"] = name
		data["sequence_number"] = seq
		seq++
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	resp := map[string]any{"id": "resp_1", "object": "response", "created_at": 1, "model": req.Model, "status": "in_progress", "output": []any{}}
	ev("response.created", map[string]any{"response": resp})
	ev("response.output_item.added", map[string]any{"output_index": 0, "item": item})
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	done := map[string]any{"id": "resp_1", "object": "response", "created_at": 1, "model": req.Model, "status": "completed", "output": []any{item},
		"usage": map[string]any{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "input_tokens_details": map[string]any{"cached_tokens": 0}, "output_tokens_details": map[string]any{"reasoning_tokens": 0}}}
	ev("response.completed", map[string]any{"response": done})
}
