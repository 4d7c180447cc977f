package agentos

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxNameBytes bounds a person's or an agent's name (a token's holder,
// --as, --actor, a signer): it is part of every audit event the actor
// makes, and no real name needs more.
const MaxNameBytes = 256

// ValidHumanName checks a name that is to stand for a person ("alice" in
// "human:alice"). Names that read as another kind of actor, or that differ
// from one only by case ("System", "Agent:planner", "human:system"), are
// refused, as are empty names and names with ':', whitespace or control
// characters: an approval must never be mistaken for an agent's or for
// AgentOS's own decision, in the audit log or in a list of approvers.
func ValidHumanName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > MaxNameBytes {
		// Checked first: the messages below quote the name.
		return fmt.Errorf("a person's name is %d bytes, more than the %d bytes limit: shorten it (the limit is fixed)", len(name), MaxNameBytes)
	}
	for _, r := range name {
		switch {
		case r == ':':
			return fmt.Errorf("%q: a person's name has no ':' (it would read as another actor kind)", name)
		case unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r):
			return fmt.Errorf("%q: a person's name has no whitespace or control characters", name)
		case r == ',' || r == '"' || r == '*' || r == '?' || r == '\\':
			return fmt.Errorf("%q: a person's name has no ',', '\"', '*', '?' or '\\'", name)
		}
	}
	switch strings.ToLower(name) {
	case "system", "agent", "human", "unknown":
		return fmt.Errorf("%q names an actor kind, not a person", name)
	}
	return nil
}

// HumanName returns the person's name of a human actor ("alice" for
// "human:alice") when the name is valid (ValidHumanName).
func (a Actor) HumanName() (string, bool) {
	n, ok := strings.CutPrefix(string(a), "human:")
	if !ok || ValidHumanName(n) != nil {
		return "", false
	}
	return n, true
}

// SignedStatement is a person's SSH signature over what they decided (an
// approval, a rejection, answers): the exact statement bytes and an armored
// SSHSIG signature over them, which `ssh-keygen -Y verify` checks by hand.
type SignedStatement struct {
	// Statement is the signed bytes (canonical JSON), kept verbatim.
	Statement string `json:"statement"`
	// Signature is the armored SSHSIG ("-----BEGIN SSH SIGNATURE-----").
	Signature string `json:"signature"`
	// Namespace is the SSHSIG namespace signed under ("agentos").
	Namespace string `json:"namespace"`
	// Key is the signing key's SHA256 fingerprint.
	Key string `json:"key"`
}
