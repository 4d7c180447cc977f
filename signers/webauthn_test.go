package signers_test

import (
	"strings"
	"testing"

	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/signers/passkeytest"
)

func newPasskey(tb testing.TB, origin string) *passkeytest.Authenticator {
	tb.Helper()
	a, err := passkeytest.New(origin)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestParsePasskeyLine(t *testing.T) {
	a := newPasskey(t, "https://review.example.com")
	line := "alice " + a.Key.Line() + " alice's phone"
	principals, k, err := signers.ParsePasskeyLine(line)
	if err != nil {
		t.Fatalf("ParsePasskeyLine(%q): %v", line, err)
	}
	if strings.Join(principals, ",") != "alice" || k.Origin != "https://review.example.com" || k.RPID() != "review.example.com" || k.ID() != a.Key.ID() || k.Comment != "alice's phone" {
		t.Errorf("parsed %v %+v", principals, k)
	}
	for _, bad := range []string{
		"alice webauthn http://review.example.com " + a.Key.ID() + " AAAA",         // http off localhost
		"alice webauthn https://review.example.com/x " + a.Key.ID() + " AAAA",      // a path is not an origin
		"alice webauthn https://review.example.com " + a.Key.ID() + " bm90IGNvc2U", // not a COSE key
		"alice webauthn https://review.example.com " + a.Key.ID(),                  // no key
		"al:ice " + a.Key.Line(), // not a person's name
	} {
		if _, _, err := signers.ParsePasskeyLine(bad); err == nil {
			t.Errorf("ParsePasskeyLine(%q) = nil error, want refusal", bad)
		}
	}
	if _, _, err := signers.ParsePasskeyLine("bob webauthn http://localhost:8080 " + a.Key.ID() + " " + strings.Fields(a.Key.Line())[3]); err != nil {
		t.Errorf("http://localhost refused: %v", err)
	}
}

// TestVerifyPasskey: an assertion counts only when the authenticator signed
// this statement's hash, for the listed origin and relying party, with the
// person present and verified, under the listed key.
func TestVerifyPasskey(t *testing.T) {
	const origin = "https://review.example.com"
	alice, mallory := newPasskey(t, origin), newPasskey(t, origin)
	keys, err := signers.NewKeyring([]signers.Person{{Name: "alice", Roles: signers.DefaultRoles, Passkeys: []signers.Passkey{alice.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"decision":"approve","task":"t1"}`)
	p, _, err := keys.Verify(msg, alice.Assert(msg).Armor())
	if err != nil || p.Name != "alice" {
		t.Fatalf("honest assertion: person %q, err %v", p.Name, err)
	}
	forged := func(f func(*passkeytest.Ceremony)) string {
		c := alice.Ceremony(msg)
		f(&c)
		return alice.AssertCeremony(c).Armor()
	}
	tamperSig := alice.Assert(msg)
	tamperSig.Signature = alice.Assert([]byte("other")).Signature
	otherCred := mallory.Assert(msg)
	otherCred.CredentialID = alice.Key.ID() // mallory's signature under alice's credential id
	cases := []struct{ name, sig string }{
		{"another statement", alice.Assert([]byte(`{"decision":"approve","task":"t2"}`)).Armor()},
		{"another origin", forged(func(c *passkeytest.Ceremony) { c.Origin = "https://evil.example.com" })},
		{"another relying party", forged(func(c *passkeytest.Ceremony) { c.RPID = "evil.example.com" })},
		{"a registration ceremony", forged(func(c *passkeytest.Ceremony) { c.Type = "webauthn.create" })},
		{"a cross-origin frame", forged(func(c *passkeytest.Ceremony) { c.CrossOrigin = true })},
		{"no user verification", forged(func(c *passkeytest.Ceremony) { c.Flags = 0x01 })},
		{"no user presence", forged(func(c *passkeytest.Ceremony) { c.Flags = 0x04 })},
		{"a signature over something else", tamperSig.Armor()},
		{"an unlisted passkey", mallory.Assert(msg).Armor()},
		{"another key under a listed id", otherCred.Armor()},
		{"not an assertion", "-----BEGIN AGENTOS WEBAUTHN ASSERTION-----\nbm9wZQ==\n-----END AGENTOS WEBAUTHN ASSERTION-----\n"},
	}
	for _, tc := range cases {
		if p, _, err := keys.Verify(msg, tc.sig); err == nil {
			t.Errorf("%s: verified as %s, want refusal", tc.name, p.Name)
		}
	}
}

func TestKeyringPasskeyBelongsToOnePerson(t *testing.T) {
	a := newPasskey(t, "https://review.example.com")
	_, err := signers.NewKeyring([]signers.Person{{Name: "alice", Passkeys: []signers.Passkey{a.Key}}, {Name: "bob", Passkeys: []signers.Passkey{a.Key}}})
	if err == nil || !strings.Contains(err.Error(), "one person") {
		t.Fatalf("NewKeyring with a shared passkey: %v, want refusal", err)
	}
}
