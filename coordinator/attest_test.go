package coordinator

import (
	"encoding/json"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/attest"
)

// An approval's signer is the key its own approval event was signed with:
// not another person's event, not another plan's, and "unsigned" when the
// event carries no signature.
func TestApprovalSigners(t *testing.T) {
	b := agentos.ApprovalBinding{Base: "b1", PolicyHash: "sha256:pol", MemoryHash: "sha256:mem"}
	ev := func(actor, plan, key string) agentos.Event {
		d := map[string]any{"decision": "approve", "plan": plan, "plan_hash": "sha256:" + plan, "binding": b}
		if key != "" {
			d["signed"] = map[string]string{"statement": "{}", "signature": "-----BEGIN SSH SIGNATURE-----", "key": key}
		}
		raw, _ := json.Marshal(d)
		return agentos.Event{Actor: agentos.Actor(actor), Kind: agentos.EventApproval, Data: raw}
	}
	signer := signersOf([]agentos.Event{
		ev("human:alice", "p1", "SHA256:alice"),
		ev("human:bob", "p2", "SHA256:bob-other-plan"),
		ev("human:bob", "p1", ""),
	})
	ap := func(actor string) agentos.Approval {
		return agentos.Approval{Kind: agentos.KindApprove, Actor: agentos.Actor(actor), PlanID: "p1", PlanHash: "sha256:p1", Binding: b}
	}
	for actor, want := range map[string]string{"human:alice": "SHA256:alice", "human:bob": attest.Unsigned, "human:cy": attest.Unsigned} {
		if got := signer(ap(actor)); got != want {
			t.Errorf("signer(%s) = %q, want %q", actor, got, want)
		}
	}
	moved := ap("human:alice")
	moved.Binding.Base = "b2"
	if got := signer(moved); got != attest.Unsigned {
		t.Errorf("an approval bound to another base took alice's key: %q", got)
	}
}
