package contractor

import (
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Usage reports as the pinned CLIs print them (captured from runs against
// the scripted model servers of contractortest), written in odd chunks.
func TestUsageReader(t *testing.T) {
	for _, c := range []struct {
		kind, model string
		out         string
		want        []agentos.ModelUsage
	}{
		{"claude", "", `{"type":"system","subtype":"init","model":"claude-opus-5-5"}
{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":1}}}
{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":1}}}
{"type":"user"}
{"type":"assistant","message":{"id":"msg_2","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":5}}}
{"type":"result","total_cost_usd":0.00088,"modelUsage":{"claude-opus-5-5":{"inputTokens":20,"outputTokens":40,"cacheReadInputTokens":5,"cacheCreationInputTokens":0,"costUSD":0.00088}}}
`, []agentos.ModelUsage{
			{Model: "claude-opus-5-5", InputTokens: 10, OutputTokens: 1},
			{Model: "claude-opus-5-5", InputTokens: 10, OutputTokens: 1, CacheReadTokens: 5},
			{Model: "claude-opus-5-5", OutputTokens: 38, CostMicroUSD: 880},
		}},
		{"codex", "gpt-5.5", "Reading additional input from stdin...\n" + `{"type":"turn.started"}
{"type":"turn.completed","usage":{"input_tokens":20,"cached_input_tokens":4,"cache_write_input_tokens":0,"output_tokens":10,"reasoning_output_tokens":0}}
`, []agentos.ModelUsage{{Model: "gpt-5.5", InputTokens: 16, CacheReadTokens: 4, OutputTokens: 10}}},
		{"opencode", "", `{"type":"step_start","part":{}}
{"type":"step_finish","part":{"type":"step-finish","tokens":{"total":15,"input":10,"output":5,"reasoning":1,"cache":{"write":2,"read":3}},"cost":0.5}}
`, []agentos.ModelUsage{{Model: "opencode:default", InputTokens: 10, OutputTokens: 6, CacheReadTokens: 3, CacheWriteTokens: 2, CostMicroUSD: 500000}}},
	} {
		var got []agentos.ModelUsage
		r := newUsageReader(c.kind, c.model, func(u agentos.ModelUsage) error {
			u.Source = ""
			got = append(got, u)
			return nil
		})
		for s := c.out; s != ""; {
			n := min(7, len(s))
			r.Write([]byte(s[:n]))
			s = s[n:]
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d reports %+v, want %+v", c.kind, len(got), got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s report %d = %+v, want %+v", c.kind, i, got[i], c.want[i])
			}
		}
	}
	// The first error stops reporting: the run is being stopped.
	calls := 0
	r := newUsageReader("codex", "m", func(agentos.ModelUsage) error { calls++; return agentos.Errorf(agentos.EFAILED, "over") })
	line := `{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}` + "\n"
	r.Write([]byte(strings.Repeat(line, 3)))
	if calls != 1 || r.stopErr() == nil {
		t.Errorf("reports after an error: %d", calls)
	}
}
