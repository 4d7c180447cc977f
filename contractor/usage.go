package contractor

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/agentos/agentos"
)

// usageReader reads a contractor's stdout as it is written, line by line,
// and hands every usage report it finds to report as it arrives (so a
// budget can stop the contractor mid-run), each as what it adds to the
// usage already reported. What the pinned CLIs print:
//
//   - Claude Code (stream-json): each assistant message with its id, model
//     and usage as the answer began; at the end a result line whose
//     modelUsage gives the totals per model (side requests included) and
//     their cost: the difference to what was counted is reported then.
//   - Codex (exec --json): turn.completed with the turn's usage (input
//     tokens include the cached ones).
//   - OpenCode (run --format json): step_finish with the step's tokens and
//     cost; the model is not named (Spec.Model).
type usageReader struct {
	kind   string
	model  string // when the CLI does not name it
	source string
	report func(agentos.ModelUsage) error

	mu   sync.Mutex
	buf  []byte
	seen map[string]bool
	// counted is what was reported so far, per model (Claude Code's
	// final totals are reconciled against it).
	counted map[string]agentos.ModelUsage
	err     error // the first error report returned: the run stops
}

func newUsageReader(kind, model string, report func(agentos.ModelUsage) error) *usageReader {
	if model == "" {
		model = kind + ":default"
	}
	return &usageReader{kind: kind, model: model, source: "contractor:" + kind, report: report,
		seen: map[string]bool{}, counted: map[string]agentos.ModelUsage{}}
}

func (r *usageReader) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		line := r.buf[:i]
		r.buf = r.buf[i+1:]
		r.line(line)
	}
	if len(r.buf) > 1<<20 { // a line this long is no usage report
		r.buf = r.buf[:0]
	}
	return len(p), nil
}

// stopErr is the first error a report returned.
func (r *usageReader) stopErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *usageReader) emit(u agentos.ModelUsage) {
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens < 0 || u.CacheWriteTokens < 0 || u.CostMicroUSD < 0 {
		return // a total below what was counted: nothing to add
	}
	if u.InputTokens+u.OutputTokens+u.CacheReadTokens+u.CacheWriteTokens == 0 && u.CostMicroUSD == 0 {
		return
	}
	u.Source = r.source
	c := r.counted[u.Model]
	c.InputTokens += u.InputTokens
	c.OutputTokens += u.OutputTokens
	c.CacheReadTokens += u.CacheReadTokens
	c.CacheWriteTokens += u.CacheWriteTokens
	c.CostMicroUSD += u.CostMicroUSD
	r.counted[u.Model] = c
	if r.err == nil {
		r.err = r.report(u)
	}
}

func (r *usageReader) line(b []byte) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return
	}
	switch r.kind {
	case "claude", "custom":
		r.claude(b)
	case "codex":
		r.codex(b)
	case "opencode":
		r.opencode(b)
	}
}

type claudeUsage struct {
	Input      int64 `json:"input_tokens"`
	Output     int64 `json:"output_tokens"`
	CacheRead  int64 `json:"cache_read_input_tokens"`
	CacheWrite int64 `json:"cache_creation_input_tokens"`
}

func (r *usageReader) claude(b []byte) {
	var ev struct {
		Type    string `json:"type"`
		Message struct {
			ID    string       `json:"id"`
			Model string       `json:"model"`
			Usage *claudeUsage `json:"usage"`
		} `json:"message"`
		ModelUsage map[string]struct {
			Input      int64   `json:"inputTokens"`
			Output     int64   `json:"outputTokens"`
			CacheRead  int64   `json:"cacheReadInputTokens"`
			CacheWrite int64   `json:"cacheCreationInputTokens"`
			CostUSD    float64 `json:"costUSD"`
		} `json:"modelUsage"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return
	}
	switch ev.Type {
	case "assistant":
		m := ev.Message
		if m.Usage == nil || m.ID == "" || r.seen[m.ID] {
			return // one message is printed once per content block
		}
		r.seen[m.ID] = true
		model := m.Model
		if model == "" {
			model = r.model
		}
		r.emit(agentos.ModelUsage{Model: model, InputTokens: m.Usage.Input, OutputTokens: m.Usage.Output,
			CacheReadTokens: m.Usage.CacheRead, CacheWriteTokens: m.Usage.CacheWrite})
	case "result":
		for model, t := range ev.ModelUsage {
			c := r.counted[model]
			r.emit(agentos.ModelUsage{Model: model, InputTokens: max(0, t.Input-c.InputTokens), OutputTokens: max(0, t.Output-c.OutputTokens),
				CacheReadTokens: max(0, t.CacheRead-c.CacheReadTokens), CacheWriteTokens: max(0, t.CacheWrite-c.CacheWriteTokens),
				CostMicroUSD: max(0, int64(t.CostUSD*1e6+0.5)-c.CostMicroUSD)})
		}
	}
}

func (r *usageReader) codex(b []byte) {
	var ev struct {
		Type  string `json:"type"`
		Usage *struct {
			Input      int64 `json:"input_tokens"`
			Cached     int64 `json:"cached_input_tokens"`
			CacheWrite int64 `json:"cache_write_input_tokens"`
			Output     int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(b, &ev) != nil || ev.Type != "turn.completed" || ev.Usage == nil {
		return
	}
	u := ev.Usage
	r.emit(agentos.ModelUsage{Model: r.model, InputTokens: max(0, u.Input-u.Cached-u.CacheWrite), OutputTokens: u.Output,
		CacheReadTokens: u.Cached, CacheWriteTokens: u.CacheWrite})
}

func (r *usageReader) opencode(b []byte) {
	var ev struct {
		Type string `json:"type"`
		Part struct {
			Tokens *struct {
				Input     int64 `json:"input"`
				Output    int64 `json:"output"`
				Reasoning int64 `json:"reasoning"`
				Cache     struct {
					Read  int64 `json:"read"`
					Write int64 `json:"write"`
				} `json:"cache"`
			} `json:"tokens"`
			Cost float64 `json:"cost"`
		} `json:"part"`
	}
	if json.Unmarshal(b, &ev) != nil || ev.Type != "step_finish" || ev.Part.Tokens == nil {
		return
	}
	t := ev.Part.Tokens
	r.emit(agentos.ModelUsage{Model: r.model, InputTokens: t.Input, OutputTokens: t.Output + t.Reasoning,
		CacheReadTokens: t.Cache.Read, CacheWriteTokens: t.Cache.Write, CostMicroUSD: int64(ev.Part.Cost*1e6 + 0.5)})
}

// lockedWriter serialises writes to w: a contractor's stdout and stderr
// are then written from two goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
