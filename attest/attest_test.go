package attest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// The DSSE specification's worked example (protocol.md, "Test Vectors"):
// PAE("http://example.com/HelloWorld", "hello world").
func TestPAESpecVector(t *testing.T) {
	got := PAE("http://example.com/HelloWorld", []byte("hello world"))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	// Lengths are byte counts, not rune counts, and an empty payload still
	// ends in its separator.
	if got := PAE("t", []byte("é")); string(got) != "DSSEv1 1 t 2 é" {
		t.Fatalf("PAE(é) = %q", got)
	}
	if got := PAE("", nil); string(got) != "DSSEv1 0  0 " {
		t.Fatalf("PAE(empty) = %q", got)
	}
}

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func sample() *Statement {
	return NewStatement(strings.Repeat("ab", 20), Predicate{
		Task: "T1", Run: "r1", PlanID: "p1", PlanHash: "sha256:plan", PolicyHash: "sha256:policy", Base: strings.Repeat("cd", 20),
		Approvals: []Approval{{ID: 1, Kind: "approve", Actor: "human:alice", PlanHash: "sha256:plan", Signer: Unsigned}},
		Verify:    []Check{{Name: "test", Argv: []string{"go", "test"}, OK: true}},
		Audit:     Checkpoint{Seq: 42, Hash: "sha256:head"}, Time: time.Unix(0, 0).UTC(),
	})
}

func TestSignOpen(t *testing.T) {
	k := seedKey(1)
	env, err := Sign(sample(), k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	st, err := back.Open(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if st.Commit() != strings.Repeat("ab", 20) || st.Predicate.PlanHash != "sha256:plan" || st.Predicate.Audit.String() != "42:sha256:head" {
		t.Fatalf("statement = %+v", st)
	}
	if !strings.HasPrefix(env.Signatures[0].KeyID, "SHA256:") {
		t.Fatalf("keyid = %q, want an ssh fingerprint", env.Signatures[0].KeyID)
	}
	// The signature is ed25519 over PAE: anyone can check it with the spec.
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), PAE(PayloadType, payload), sig) {
		t.Fatal("signature is not over PAE(payloadType, payload)")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := seedKey(1)
	pub := k.Public().(ed25519.PublicKey)
	good, err := Sign(sample(), k)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(good.Payload)
	for name, mut := range map[string]func(e *Envelope){
		"edited payload": func(e *Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte("sha256:plan"), []byte("sha256:PLAN"), 1))
		},
		"other key": func(e *Envelope) {
			o, _ := Sign(sample(), seedKey(2))
			*e = *o
		},
		"keyid lies": func(e *Envelope) {
			o, _ := Sign(sample(), seedKey(2))
			o.Signatures[0].KeyID = KeyID(pub)
			*e = *o
		},
		"no signature":  func(e *Envelope) { e.Signatures = nil },
		"payload type":  func(e *Envelope) { e.PayloadType = "application/json" },
		"not base64":    func(e *Envelope) { e.Payload = "%%%" },
		"truncated sig": func(e *Envelope) { e.Signatures[0].Sig = e.Signatures[0].Sig[:20] },
	} {
		t.Run(name, func(t *testing.T) {
			e := *good
			e.Signatures = append([]Signature(nil), good.Signatures...)
			mut(&e)
			if _, err := e.Open(pub); err == nil {
				t.Fatal("Open accepted it")
			} else if c := agentos.ErrorCode(err); c != agentos.ECONFLICT && c != agentos.EINVALID {
				t.Fatalf("code %s: %v", c, err)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	k := seedKey(1)
	st := sample()
	for b.Loop() {
		if _, err := Sign(st, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := seedKey(1)
	env, _ := Sign(sample(), k)
	pub := k.Public().(ed25519.PublicKey)
	for b.Loop() {
		if _, err := env.Open(pub); err != nil {
			b.Fatal(err)
		}
	}
}
