// Package signers knows people by their SSH keys. It reads the policy's
// list of people (git's allowed_signers lines, with roles), finds a person's
// key in ssh-agent or in a key file, and signs and verifies statements in
// OpenSSH's SSHSIG format (PROTOCOL.sshsig), so that `ssh-keygen -Y verify`
// checks an AgentOS approval by hand.
package signers

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace every AgentOS statement is signed
// under: a signature made for git commits or files cannot pass for an
// approval, nor one of ours for theirs.
const Namespace = "agentos"

// hash is SSHSIG's message hash; sha512 is what ssh-keygen uses by default.
const hash = sshsig.HashSHA512

// Role is what a listed person may do.
type Role string

const (
	// RoleApprove: approve and reject plans.
	RoleApprove Role = "approve"
	// RoleAnswer: answer a blocked task's questions.
	RoleAnswer Role = "answer"
	// RoleAdmin: every role.
	RoleAdmin Role = "admin"
)

// DefaultRoles are a listed person's roles when the policy names none.
var DefaultRoles = []Role{RoleApprove, RoleAnswer}

// ParseRole checks a role name from the policy.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleApprove, RoleAnswer, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want approve, answer or admin", s)
}

// Person is one listed signer.
type Person struct {
	// Name is the person's identity: their actor is human:Name.
	Name string
	// Principals are every name the person's allowed_signers lines give
	// (Name included); --as may pick any of them.
	Principals []string
	Roles      []Role
	Keys       []ssh.PublicKey
	// Passkeys are the person's WebAuthn credentials (the web page signs
	// with them as the CLI signs with Keys).
	Passkeys []Passkey
}

// Actor is the person's audit actor.
func (p Person) Actor() agentos.Actor { return agentos.Human(p.Name) }

// Can reports whether p holds role r (admin holds every role).
func (p Person) Can(r Role) bool {
	return slices.Contains(p.Roles, r) || slices.Contains(p.Roles, RoleAdmin)
}

// Answers to a name: Name or one of Principals.
func (p Person) Answers(name string) bool {
	return name == p.Name || slices.Contains(p.Principals, name)
}

// keyTypes are the public key algorithms an allowed_signers line may name.
func isKeyType(s string) bool {
	switch s {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return true
	}
	return false
}

// ParseLine parses one line of git's allowed_signers file
// ("principals [options] keytype base64 [comment]") or a bare public key
// ("keytype base64 [comment]", no principals). Of the options only
// namespaces= is honoured, and it must allow Namespace; cert-authority,
// valid-after and valid-before are refused rather than ignored, since
// ignoring them would widen what the line allows.
func ParseLine(line string) (principals []string, key ssh.PublicKey, err error) {
	fields := splitFields(strings.TrimSpace(line))
	if len(fields) == 0 {
		return nil, nil, errors.New("empty line: want \"NAME ssh-ed25519 AAAA…\" or a public key")
	}
	rest := fields
	if !isKeyType(fields[0]) {
		for p := range strings.SplitSeq(unquote(fields[0]), ",") {
			if err := agentos.ValidHumanName(p); err != nil {
				return nil, nil, fmt.Errorf("principal %v", err)
			}
			principals = append(principals, p)
		}
		rest = fields[1:]
		if len(rest) > 0 && !isKeyType(rest[0]) {
			if err := checkOptions(rest[0]); err != nil {
				return nil, nil, err
			}
			rest = rest[1:]
		}
	}
	if len(rest) < 2 || !isKeyType(rest[0]) {
		return nil, nil, errors.New("no public key: want \"NAME ssh-ed25519 AAAA…\" (a line of git's allowed_signers, or of a .pub file after a name)")
	}
	key, _, _, _, err = ssh.ParseAuthorizedKey([]byte(strings.Join(rest, " ")))
	if err != nil {
		return nil, nil, fmt.Errorf("public key: %v", err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, nil, errors.New("certificates are not supported: list the person's public key")
	}
	return principals, key, nil
}

func checkOptions(opts string) error {
	for _, o := range splitOutsideQuotes(opts, ',') {
		name, val, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "namespaces":
			ns := strings.Split(unquote(val), ",")
			if !slices.ContainsFunc(ns, func(n string) bool { return n == Namespace || n == "*" }) {
				return fmt.Errorf("option namespaces=%s does not allow %q: add it, or drop the option", val, Namespace)
			}
		case "cert-authority", "valid-after", "valid-before":
			return fmt.Errorf("option %s is not supported: remove it (list the person's own key)", name)
		default:
			return fmt.Errorf("unknown option %q", o)
		}
	}
	return nil
}

// splitFields splits on whitespace outside double quotes.
func splitFields(s string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			cur.WriteRune(r)
		case !inQ && (r == ' ' || r == '\t'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func splitOutsideQuotes(s string, sep rune) []string {
	var out []string
	start, inQ := 0, false
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case r == sep && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Keyring is the policy's people, looked up by name and by key.
type Keyring struct {
	people []Person
	byKey  map[string]int // SHA256 fingerprint, or "webauthn:"+credential id -> index
}

// passkeyIndex is a passkey's key in Keyring.byKey.
func passkeyIndex(id []byte) string { return PasskeyType + ":" + string(id) }

// NewKeyring checks people and indexes them: names and principals are
// valid person names, no two people share a name up to case (so "Alice"
// cannot pass for "alice"), and no key belongs to two people (a key
// proves one person).
func NewKeyring(people []Person) (*Keyring, error) {
	k := &Keyring{byKey: map[string]int{}}
	names := map[string]string{}
	for i, p := range people {
		if err := agentos.ValidHumanName(p.Name); err != nil {
			return nil, fmt.Errorf("signer %v", err)
		}
		if len(p.Keys) == 0 && len(p.Passkeys) == 0 {
			return nil, fmt.Errorf("signer %s: no key listed", p.Name)
		}
		for _, n := range append([]string{p.Name}, p.Principals...) {
			if err := agentos.ValidHumanName(n); err != nil {
				return nil, fmt.Errorf("signer %s: principal %v", p.Name, err)
			}
			if other, dup := names[strings.ToLower(n)]; dup && other != p.Name {
				return nil, fmt.Errorf("signer %s: the name %q is also %s's (names are compared ignoring case)", p.Name, n, other)
			}
			names[strings.ToLower(n)] = p.Name
		}
		for _, key := range p.Keys {
			fp := ssh.FingerprintSHA256(key)
			if j, dup := k.byKey[fp]; dup && j != i {
				return nil, fmt.Errorf("signer %s: key %s is also listed for %s; a key proves one person", p.Name, fp, people[j].Name)
			}
			k.byKey[fp] = i
		}
		for _, pk := range p.Passkeys {
			if j, dup := k.byKey[passkeyIndex(pk.CredentialID)]; dup && j != i {
				return nil, fmt.Errorf("signer %s: passkey %s is also listed for %s; a key proves one person", p.Name, pk.ID(), people[j].Name)
			}
			k.byKey[passkeyIndex(pk.CredentialID)] = i
		}
		if len(p.Roles) == 0 {
			p.Roles = slices.Clone(DefaultRoles)
		}
		k.people = append(k.people, p)
	}
	return k, nil
}

// Len is the number of listed people (0: solo use, no signatures).
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.people)
}

// People returns the listed people.
func (k *Keyring) People() []Person {
	if k == nil {
		return nil
	}
	return k.people
}

// Person returns the person who answers to name ("alice" or "human:alice").
func (k *Keyring) Person(name string) (Person, bool) {
	name = strings.TrimPrefix(name, "human:")
	for _, p := range k.People() {
		if p.Answers(name) {
			return p, true
		}
	}
	return Person{}, false
}

// ByKey returns the person pub belongs to.
func (k *Keyring) ByKey(pub ssh.PublicKey) (Person, bool) {
	if k == nil {
		return Person{}, false
	}
	i, ok := k.byKey[ssh.FingerprintSHA256(pub)]
	if !ok {
		return Person{}, false
	}
	return k.people[i], true
}

// Sign signs msg with s under Namespace and returns the armored SSHSIG
// signature.
func Sign(s ssh.Signer, msg []byte) (string, error) {
	sig, err := sshsig.Sign(bytes.NewReader(msg), s, hash, Namespace)
	if err != nil {
		return "", err
	}
	return string(sshsig.Armor(sig)), nil
}

// ByPasskey returns the person whose passkey has credential id (base64url)
// and that passkey.
func (k *Keyring) ByPasskey(id string) (Person, Passkey, bool) {
	raw, err := b64url(id)
	if k == nil || err != nil {
		return Person{}, Passkey{}, false
	}
	i, ok := k.byKey[passkeyIndex(raw)]
	if !ok {
		return Person{}, Passkey{}, false
	}
	for _, pk := range k.people[i].Passkeys {
		if bytes.Equal(pk.CredentialID, raw) {
			return k.people[i], pk, true
		}
	}
	return Person{}, Passkey{}, false
}

// Verify checks a decision's signature over msg and returns the listed
// person whose key made it: an armored SSHSIG made under Namespace, or a
// WebAuthn assertion (AssertionPEM) by a listed passkey whose challenge is
// msg's hash (VerifyAssertion). The SSH key is nil for a passkey.
func (k *Keyring) Verify(msg []byte, armored string) (Person, ssh.PublicKey, error) {
	if IsAssertion(armored) {
		a, err := ParseAssertion(armored)
		if err != nil {
			return Person{}, nil, err
		}
		p, pk, ok := k.ByPasskey(a.CredentialID)
		if !ok {
			return Person{}, nil, fmt.Errorf("signed by passkey %s, which no signer of the policy holds", a.CredentialID)
		}
		if err := VerifyAssertion(pk, msg, a); err != nil {
			return Person{}, nil, fmt.Errorf("signature by passkey %s: %v", a.CredentialID, err)
		}
		return p, nil, nil
	}
	sig, err := sshsig.Unarmor([]byte(armored))
	if err != nil {
		return Person{}, nil, fmt.Errorf("not an SSH signature: %v", err)
	}
	p, ok := k.ByKey(sig.PublicKey)
	if !ok {
		return Person{}, nil, fmt.Errorf("signed by key %s, which no signer of the policy holds", ssh.FingerprintSHA256(sig.PublicKey))
	}
	if err := sshsig.Verify(bytes.NewReader(msg), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return Person{}, nil, fmt.Errorf("signature by %s does not verify: %v", ssh.FingerprintSHA256(sig.PublicKey), err)
	}
	return p, sig.PublicKey, nil
}
