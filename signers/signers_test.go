package signers_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"strings"
	"testing"

	"github.com/agentos/agentos/signers"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func newSigner(tb testing.TB) ssh.Signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func authorized(s ssh.Signer) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func TestParseLine(t *testing.T) {
	key := authorized(newSigner(t))
	tests := []struct {
		name, line string
		principals string // comma-joined; "-" when the line is refused
	}{
		{"bare key", key + " alice@laptop", ""},
		{"allowed_signers line", "alice " + key + " alice@laptop", "alice"},
		{"several principals", "alice,alice@example.com " + key, "alice,alice@example.com"},
		{"quoted principals", `"alice,ajones" ` + key, "alice,ajones"},
		{"namespaces allows agentos", `alice namespaces="git,agentos" ` + key, "alice"},
		{"namespaces without agentos", `alice namespaces="git" ` + key, "-"},
		{"cert-authority", "alice cert-authority " + key, "-"},
		{"valid-before", "alice valid-before=20300101 " + key, "-"},
		{"no key", "alice", "-"},
		{"empty", "  ", "-"},
		{"actor kind in a principal", "agent:planner " + key, "-"},
		{"system", "system " + key, "-"},
		{"garbage key", "alice ssh-ed25519 AAAAnotbase64!", "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, k, err := signers.ParseLine(tc.line)
			if tc.principals == "-" {
				if err == nil {
					t.Fatalf("ParseLine(%q) = %v, nil; want an error", tc.line, ps)
				}
				return
			}
			if err != nil || k == nil || strings.Join(ps, ",") != tc.principals {
				t.Fatalf("ParseLine(%q) = %v, %v, %v; want principals %q", tc.line, ps, k, err, tc.principals)
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	ok := []signers.Person{{Name: "alice", Principals: []string{"ajones"}, Keys: []ssh.PublicKey{a.PublicKey()}},
		{Name: "bob", Roles: []signers.Role{signers.RoleAnswer}, Keys: []ssh.PublicKey{b.PublicKey()}}}
	k, err := signers.NewKeyring(ok)
	if err != nil {
		t.Fatal(err)
	}
	if p, found := k.Person("human:ajones"); !found || p.Name != "alice" || !p.Can(signers.RoleApprove) {
		t.Errorf("Person(human:ajones) = %+v, %v; want alice, who may approve (default roles)", p, found)
	}
	if p, _ := k.ByKey(b.PublicKey()); p.Name != "bob" || p.Can(signers.RoleApprove) {
		t.Errorf("ByKey(bob's key) = %+v; want bob, who may only answer", p)
	}
	for name, people := range map[string][]signers.Person{
		"case-folded name":    {ok[0], {Name: "Alice", Keys: []ssh.PublicKey{b.PublicKey()}}},
		"principal collision": {ok[0], {Name: "AJones", Keys: []ssh.PublicKey{b.PublicKey()}}},
		"shared key":          {ok[0], {Name: "bob", Keys: []ssh.PublicKey{a.PublicKey()}}},
		"no key":              {{Name: "carol"}},
		"actor kind":          {{Name: "Agent:x", Keys: []ssh.PublicKey{b.PublicKey()}}},
	} {
		if _, err := signers.NewKeyring(people); err == nil {
			t.Errorf("%s: NewKeyring accepted %+v", name, people)
		}
	}
}

func TestSignVerify(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	k, err := signers.NewKeyring([]signers.Person{{Name: "alice", Keys: []ssh.PublicKey{a.PublicKey()}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"decision":"approve"}`)
	sig, err := signers.Sign(a, msg)
	if err != nil || !strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("Sign = %q, %v; want an armored SSHSIG", sig, err)
	}
	if p, _, err := k.Verify(msg, sig); err != nil || p.Name != "alice" {
		t.Fatalf("Verify = %+v, %v; want alice", p, err)
	}
	if _, _, err := k.Verify([]byte(`{"decision":"reject"}`), sig); err == nil {
		t.Error("Verify accepted a signature over other bytes")
	}
	other, _ := signers.Sign(b, msg)
	if _, _, err := k.Verify(msg, other); err == nil || !strings.Contains(err.Error(), "no signer of the policy holds") {
		t.Errorf("Verify of an unlisted key = %v; want refused", err)
	}
	if _, _, err := k.Verify(msg, "not a signature"); err == nil {
		t.Error("Verify accepted garbage")
	}
}

// BenchmarkSign and BenchmarkVerify measure what one approval costs: an
// SSHSIG signature (ed25519, sha512) over a statement of typical size, and
// its verification against the policy's keyring.
func BenchmarkSign(b *testing.B) {
	s := newSigner(b)
	msg := []byte(strings.Repeat("x", 600))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signers.Sign(s, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newSigner(b)
	people := []signers.Person{{Name: "alice", Keys: []ssh.PublicKey{s.PublicKey()}}}
	for i := range 20 { // a team's keyring
		people = append(people, signers.Person{Name: "p" + strings.Repeat("x", i+1), Keys: []ssh.PublicKey{newSigner(b).PublicKey()}})
	}
	k, err := signers.NewKeyring(people)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(strings.Repeat("x", 600))
	sig, err := signers.Sign(s, msg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := k.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignAgent signs through an ssh-agent protocol round trip (an
// in-process agent over a pipe; a real agent adds its socket hop).
func BenchmarkSignAgent(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		b.Fatal(err)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	go agent.ServeAgent(kr, c2)
	ss, err := agent.NewClient(c1).Signers()
	if err != nil || len(ss) != 1 {
		b.Fatalf("agent signers = %v, %v", ss, err)
	}
	msg := []byte(strings.Repeat("x", 600))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signers.Sign(ss[0], msg); err != nil {
			b.Fatal(err)
		}
	}
}
