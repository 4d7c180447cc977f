package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkMCPGateway measures one tools/call to the scripted MCP server
// (fakemcp) directly and through `agentos mcp proxy` (pin check, the CEL
// rules, the mcp.call audit append to SQLite, the forward), in the same
// run: go test ./cmd/agentos -run '^$' -bench MCPGateway -benchtime 500x.
// It reports p50 and p95 of each call besides ns/op.
func BenchmarkMCPGateway(b *testing.B) {
	bin, err := exec.LookPath("agentos")
	if err != nil {
		b.Fatal(err)
	}
	fake, err := exec.LookPath("fakemcp")
	if err != nil {
		b.Fatal(err)
	}
	dir := benchRepo(b)
	run := func(args ...string) string {
		c := exec.Command(bin, append([]string{"-C", dir}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			b.Fatalf("agentos %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init")
	f, err := os.OpenFile(filepath.Join(dir, "agentos.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	f.WriteString("mcp:\n  rules:\n    - id: read-only\n      when: annotations.read_only\n      effect: allow\n")
	f.Close()
	git(b, dir, "add", "agentos.yaml")
	git(b, dir, "commit", "-q", "-m", "policy")
	hash := regexp.MustCompile(`sha256:[0-9a-f]{64}`).FindString(run("mcp", "pin", "fake", "--", fake))
	run("mcp", "pin", "fake", "--hash", hash, "--", fake)

	measure := func(b *testing.B, cmd *exec.Cmd) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		var d []time.Duration
		for b.Loop() {
			start := time.Now()
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
			if err != nil || res.IsError {
				b.Fatalf("echo: %v %+v", err, res)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(d[len(d)*95/100].Microseconds()), "p95-µs")
	}
	b.Run("direct", func(b *testing.B) { measure(b, exec.Command(fake)) })
	b.Run("gateway", func(b *testing.B) {
		c := exec.Command(bin, "mcp", "proxy", "--name", "fake", "--", fake)
		c.Dir = dir
		measure(b, c)
	})
}
