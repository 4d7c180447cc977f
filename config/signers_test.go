package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/agentos/agentos/signers/passkeytest"
	"golang.org/x/crypto/ssh"
)

func pubLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestSignersSection(t *testing.T) {
	ka, kb := pubLine(t), pubLine(t)
	doc := "version: 1\napprovers: [alice, bob]\nsigners:\n  - alice,ajones " + ka + " alice@laptop\n  - name: bob\n    roles: [approve, admin]\n    keys: [\"" + kb + " bob@desk\"]\n" +
		"gates:\n  - id: ci\n    when: \"true\"\n    effect: require_approval\n    approvers: [human:bob]\n"
	c, err := Parse([]byte(doc), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Keyring()
	if err != nil || k.Len() != 2 {
		t.Fatalf("Keyring = %v, %v; want 2 people", k, err)
	}
	if p, ok := k.Person("ajones"); !ok || p.Name != "alice" {
		t.Errorf("Person(ajones) = %+v, %v; want alice (a principal of her pasted line)", p, ok)
	}
	if !c.FourEyes() {
		t.Error("FourEyes = false with signers listed; want on by default")
	}
	solo, err := Parse([]byte("version: 1\n"), "agentos.yaml")
	if err != nil || solo.FourEyes() {
		t.Errorf("solo FourEyes = %v, %v; want off by default", solo.FourEyes(), err)
	}
	if on, err := Parse([]byte("version: 1\napprovals: {distinct_from_author: true}\n"), "agentos.yaml"); err != nil || !on.FourEyes() {
		t.Errorf("solo with distinct_from_author: true: FourEyes = %v, %v; want on", on.FourEyes(), err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\nsigners:\n  - alice ssh-ed25519 AAAAnope\n", "signers[0]: public key"},
		{"version: 1\nsigners:\n  - alice\n", "signers[0]: no public key"},
		{"version: 1\nsigners:\n  - " + ka + "\n", "signers[0]: no name"},
		{"version: 1\nsigners:\n  - name: bob\n    roles: [boss]\n    keys: [\"" + kb + "\"]\n", `signers[0] (bob): role "boss": want approve, answer or admin`},
		{"version: 1\nsigners:\n  - name: bob\n", "signers[0] (bob): keys: list at least one"},
		{"version: 1\nsigners:\n  - alice " + ka + "\n  - Alice " + kb + "\n", `the name "Alice" is also alice's`},
		{"version: 1\nsigners:\n  - alice " + ka + "\n  - bob " + ka + "\n", "is also listed for alice; a key proves one person"},
		{"version: 1\nsigners:\n  - system " + ka + "\n", "names an actor kind"},
		{"version: 1\nsigners:\n  - alice " + ka + "\napprovers: [mallory]\n", `approvers: "mallory" is not a listed signer`},
		{"version: 1\nsigners:\n  - alice,ajones " + ka + "\napprovers: [ajones]\n", `"ajones" is an alias of signer alice: name them as alice`},
		{"version: 1\nsigners:\n  - name: bob\n    roles: [answer]\n    keys: [\"" + kb + "\"]\napprovers: [bob]\n", `"bob" may not approve`},
		{"version: 1\napprovers: [human:agent:planner]\n", `approvers: "agent:planner": a person's name has no ':'`},
		{"version: 1\napprovers: [Agent:planner]\n", "has no ':'"},
		{"version: 1\napprovers: [human:system]\n", "names an actor kind"},
		{"version: 1\napprovals: {distinct_from_author: maybe}\n", "want true or false"},
	} {
		_, err := Parse([]byte(tc.doc), "agentos.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

// TestPasskeySigners: a passkey line (pasted, or under keys:) lists a
// person like an SSH key, beside their SSH keys; a malformed one is refused
// with the entry at fault.
func TestPasskeySigners(t *testing.T) {
	a, err := passkeytest.New("https://review.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := passkeytest.New("https://review.example.com")
	doc := "version: 1\napprovers: [alice, bob]\nsigners:\n  - alice " + pubLine(t) + "\n  - alice,ajones " + a.Key.Line() + " alice's phone\n" +
		"  - name: bob\n    roles: [approve]\n    keys: [\"" + b.Key.Line() + "\"]\n"
	c, err := Parse([]byte(doc), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	if p, _, ok := k.ByPasskey(a.Key.ID()); !ok || p.Name != "alice" || !p.Answers("ajones") {
		t.Errorf("ByPasskey(alice's pasted line) = %+v, %v; want alice, alias ajones", p, ok)
	}
	doc = "version: 1\napprovers: [alice, bob]\nsigners:\n  - name: alice\n    keys: [\"" + pubLine(t) + "\", \"ajones " + a.Key.Line() + "\"]\n" +
		"  - name: bob\n    roles: [approve]\n    keys: [\"" + b.Key.Line() + "\"]\n"
	if c, err = Parse([]byte(doc), "agentos.yaml"); err != nil {
		t.Fatal(err)
	}
	if k, err = c.Keyring(); err != nil {
		t.Fatal(err)
	}
	if p, _, ok := k.ByPasskey(a.Key.ID()); !ok || p.Name != "alice" || len(p.Keys) != 1 || !p.Answers("ajones") {
		t.Errorf("ByPasskey(alice's) = %+v, %v; want alice with her SSH key and the alias ajones", p, ok)
	}
	if p, _, ok := k.ByPasskey(b.Key.ID()); !ok || p.Name != "bob" {
		t.Errorf("ByPasskey(bob's) = %+v, %v", p, ok)
	}
	bad := "version: 1\nsigners:\n  - carol webauthn http://review.example.com " + a.Key.ID() + " AAAA\n"
	if _, err := Parse([]byte(bad), "agentos.yaml"); err == nil || !strings.Contains(err.Error(), "signers[0]") || !strings.Contains(err.Error(), "https") {
		t.Errorf("passkey on a plain-http origin: %v, want refused naming signers[0]", err)
	}
}
