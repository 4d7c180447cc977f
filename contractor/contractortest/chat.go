package contractortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// ToolCall is one scripted function call of FakeChat.
type ToolCall struct {
	Name string
	Args map[string]any
}

// FakeChat is an OpenAI-compatible Chat Completions server (streaming and
// not) for agent CLIs such as OpenCode: turn i of a conversation that
// offers tools answers with Script[i] as the tool call call_<i+1>, once the
// result of call_<i> is back; then a final text. Other requests (titles,
// summaries) get a short text.
type FakeChat struct {
	Script []func(cwd string) ToolCall
	// Cwd is the working directory the CLI told the model (from its system
	// prompt), for scripts that need absolute paths.
	Cwd string

	mu      sync.Mutex
	results map[string]string
	turns   int
}

// Results returns the tool results the CLI sent back, by call id.
func (f *FakeChat) Results() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.results {
		out[k] = v
	}
	return out
}

func (f *FakeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not here"}}`, 404)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Tools    []any  `json:"tools"`
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			Content    any    `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(body, &req)
	var call *ToolCall
	id := ""
	f.mu.Lock()
	if f.results == nil {
		f.results = map[string]string{}
	}
	if len(req.Tools) > 0 {
		for _, m := range req.Messages {
			if s, ok := m.Content.(string); ok && m.Role == "system" && f.Cwd == "" {
				if mm := cwdRe.FindStringSubmatch(s); mm != nil {
					f.Cwd = strings.TrimRight(mm[1], `\n".,`)
				}
			}
		}
		answered := map[string]bool{}
		for _, m := range req.Messages {
			if m.Role == "tool" {
				answered[m.ToolCallID] = true
				b, _ := json.Marshal(m.Content)
				f.results[m.ToolCallID] = string(b)
			}
		}
		for i := range f.Script {
			cid := fmt.Sprintf("call_%d", i+1)
			if !answered[cid] {
				c := f.Script[i](f.Cwd)
				call, id = &c, cid
				break
			}
		}
		f.turns++
	}
	f.mu.Unlock()
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": "Done."}
		finish := "stop"
		if call != nil {
			args, _ := json.Marshal(call.Args)
			msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": id, "type": "function", "function": map[string]any{"name": call.Name, "arguments": string(args)}}}}
			finish = "tool_calls"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "c", "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	if call != nil {
		args, _ := json.Marshal(call.Args)
		chunk(map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"index": 0, "id": id, "type": "function", "function": map[string]any{"name": call.Name, "arguments": ""}}}}, nil)
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": string(args)}}}}, nil)
		chunk(map[string]any{}, "tool_calls")
	} else {
		chunk(map[string]any{"role": "assistant", "content": "Done."}, nil)
		chunk(map[string]any{}, "stop")
	}
	b, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": req.Model, "choices": []any{},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
	fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", b)
}
