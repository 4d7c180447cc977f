package httpapi

import (
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/signers/passkeytest"
)

// TestVerifyPasskeySignature: through the API a passkey's assertion is a
// signature of kind webauthn, recorded with its credential; sent as an
// SSH signature it is refused with a line, never a panic.
func TestVerifyPasskeySignature(t *testing.T) {
	a, err := passkeytest.New("https://review.example.com")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signers.NewKeyring([]signers.Person{{Name: "alice", Passkeys: []signers.Passkey{a.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := `{"decision":"approve"}`
	sig := a.Assert([]byte(msg)).Armor()
	p, signed, err := verifySignature(keys, Signed{Kind: "webauthn", Statement: msg, Signature: sig})
	if err != nil || p.Name != "alice" || signed.Namespace != signers.PasskeyNamespace || signed.Key != "webauthn:"+a.Key.ID() {
		t.Fatalf("webauthn: %+v %+v %v", p, signed, err)
	}
	if _, _, err := verifySignature(keys, Signed{Statement: msg, Signature: sig}); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("an assertion sent as sshsig: %v, want invalid", err)
	}
	if _, _, err := verifySignature(keys, Signed{Kind: "webauthn", Statement: `{"decision":"reject"}`, Signature: sig}); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("an assertion over another statement: %v, want denied", err)
	}
}
