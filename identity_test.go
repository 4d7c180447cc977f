package agentos_test

import (
	"testing"

	"github.com/agentos/agentos"
)

// Names that read as another actor kind, or that hide in whitespace and
// control characters, never stand for a person (issue 15).
func TestValidHumanName(t *testing.T) {
	for _, bad := range []string{"", "agent:planner", "Agent:planner", "human:system", "system", "System", "AGENT", "human",
		"al ice", "alice\n", "al\x00ice", "\u200balice", "a,b", "alice\t", "unknown"} {
		if agentos.ValidHumanName(bad) == nil {
			t.Errorf("ValidHumanName(%q) = nil, want refused", bad)
		}
	}
	for _, good := range []string{"alice", "alice@example.com", "a.jones", "root", "uid-1000", "Zoë"} {
		if err := agentos.ValidHumanName(good); err != nil {
			t.Errorf("ValidHumanName(%q) = %v, want nil", good, err)
		}
	}
	for a, want := range map[agentos.Actor]bool{"human:alice": true, "human:agent:x": false, "human:": false, "human:System": false, "agent:alice": false} {
		if _, ok := a.HumanName(); ok != want {
			t.Errorf("Actor(%q).HumanName ok = %v, want %v", a, ok, want)
		}
	}
}
