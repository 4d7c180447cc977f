package cli

import (
	"bytes"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/agentos/agentos"
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
		"answer", "apply", "approve", "audit", "demo", "doctor", "gc", "hook", "init", "lock", "man", "mcp", "memory", "plan", "policy",
		"questions", "reject", "review", "rollback", "run", "sandbox", "scheduler", "schema", "serve", "session", "submit", "task", "token",
		"trace", "usage", "version", "webhooks", "worker",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("top-level commands\n%q\nwant\n%q", got, want)
	}
}

// A run stopped by a signal exits 128+signal (the README's 129, 130, 143);
// one stopped by a person's cancel request, or any other cancellation,
// exits 1; the older codes keep their meaning.
func TestExitCodeInterrupt(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{agentos.WrapError(agentos.ECANCELLED, interruptBy(syscall.SIGINT), "stopped"), 130},
		{agentos.WrapError(agentos.ECANCELLED, interruptBy(syscall.SIGTERM), "stopped"), 143},
		{agentos.WrapError(agentos.ECANCELLED, interruptBy(syscall.SIGHUP), "stopped"), 129},
		{agentos.WrapError(agentos.ECANCELLED, &agentos.Interrupt{Actor: agentos.Human("ann"), Reason: "cancelled by human:ann"}, "stopped"), ExitFailed},
		{agentos.Errorf(agentos.ECANCELLED, "stopped"), ExitFailed},
		{agentos.Errorf(agentos.EHELD, "held"), ExitHeld},
	} {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
