package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The command tree is built in one place (NewRootCmd); the top-level
// commands are a README contract, so losing or doubling one fails here.
func TestCommandTree(t *testing.T) {
	var out bytes.Buffer
	f := NewFactory(strings.NewReader(""), &out, &out)
	defer f.Close()
	var got []string
	for _, c := range NewRootCmd(f).Commands() {
		got = append(got, c.Name())
	}
	want := []string{
		"answer", "apply", "approve", "audit", "demo", "gc", "hook", "init", "lock", "memory", "plan", "policy",
		"questions", "reject", "review", "rollback", "run", "sandbox", "scheduler", "schema", "submit", "task",
		"trace", "worker",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("top-level commands\n%q\nwant\n%q", got, want)
	}
}
