package httpapi

import (
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/signers"
	"golang.org/x/crypto/ssh"
)

// Signed is a person's signature over a statement the API handed out
// (approval-statement, answer-statement), sent back with the decision.
type Signed struct {
	// Kind is the kind of signature: "sshsig" (the default: `ssh-keygen -Y
	// sign -n agentos`, armored) or "webauthn" (a passkey's assertion over
	// the statement's SHA-256, armored as docs/approvals.md says).
	Kind string `json:"kind,omitempty"`
	// Statement is the exact statement bytes that were signed.
	Statement string `json:"statement"`
	// Signature is the signature over Statement.
	Signature string `json:"signature"`
}

// StatementMaxAge is how long a handed-out statement may be signed and
// sent back: after it, fetch a fresh one (the world it describes moves).
const StatementMaxAge = 15 * time.Minute

// verifySignature is the one place a signature of a person is checked: it
// returns the listed person whose key made it. Each kind of signature is a
// case here (the web page adds its passkeys' as a second kind).
func verifySignature(keys *signers.Keyring, s Signed) (signers.Person, *agentos.SignedStatement, error) {
	switch s.Kind {
	case "webauthn":
		// A passkey's assertion over the statement's hash, armored
		// (docs/approvals.md, Passkeys).
		if !signers.IsAssertion(s.Signature) {
			return signers.Person{}, nil, agentos.Errorf(agentos.EINVALID, "signature kind webauthn: the signature is not an armored WebAuthn assertion (%s)", signers.AssertionPEM)
		}
		p, _, err := keys.Verify([]byte(s.Statement), s.Signature)
		if err != nil {
			return signers.Person{}, nil, agentos.WrapError(agentos.EDENIED, err, "the signature does not verify against the signers of %s: %v", agentos.PolicyFile, err)
		}
		a, _ := signers.ParseAssertion(s.Signature)
		return p, &agentos.SignedStatement{Statement: s.Statement, Signature: s.Signature, Namespace: signers.PasskeyNamespace, Key: signers.PasskeyType + ":" + a.CredentialID}, nil
	case "", "sshsig":
		if signers.IsAssertion(s.Signature) {
			return signers.Person{}, nil, agentos.Errorf(agentos.EINVALID, "a WebAuthn assertion sent as kind sshsig: send it as kind webauthn")
		}
		p, pub, err := keys.Verify([]byte(s.Statement), s.Signature)
		if err != nil {
			return signers.Person{}, nil, agentos.WrapError(agentos.EDENIED, err, "the signature does not verify against the signers of %s: %v", agentos.PolicyFile, err)
		}
		return p, &agentos.SignedStatement{Statement: s.Statement, Signature: s.Signature, Namespace: signers.Namespace, Key: ssh.FingerprintSHA256(pub)}, nil
	}
	return signers.Person{}, nil, agentos.Errorf(agentos.EINVALID, "signature kind %q: want sshsig or webauthn", s.Kind)
}

// decider is the identity that decides through the API: the listed person
// whose signature s carries, never the token. Its Sign hands the pipeline
// that person's signed statement once the pipeline has built the very same
// statement (every field but the time of signing, which must be recent):
// so what is recorded is exactly what the person signed, and checked again
// at admission like any signed decision.
func decider(keys *signers.Keyring, role signers.Role, s Signed, now time.Time) (approval.Identity, error) {
	if keys.Len() == 0 {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "%s lists no signers: through the API a decision must be signed by a listed person's key, and a token alone never decides (list people under signers:, or decide with the CLI at the repository)", agentos.PolicyFile)
	}
	if s.Statement == "" || s.Signature == "" {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "a decision needs the person's signature: sign the statement from the matching *-statement endpoint (`ssh-keygen -Y sign -n %s -f KEY`) and send it as signed.statement and signed.signature", signers.Namespace)
	}
	p, signed, err := verifySignature(keys, s)
	if err != nil {
		return approval.Identity{}, err
	}
	if !p.Can(role) {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "%s may not %s: the policy does not give them the %s role", p.Name, role, role)
	}
	st, err := approval.ParseStatement([]byte(s.Statement))
	if err != nil {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "the signed statement: %v", err)
	}
	if st.Signer != p.Actor() {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "the statement names %s as its signer, but %s's key signed it", st.Signer, p.Name)
	}
	at, err := time.Parse(time.RFC3339, st.Time)
	if err != nil || now.Sub(at) > StatementMaxAge || at.Sub(now) > time.Minute {
		return approval.Identity{}, agentos.Errorf(agentos.ECONFLICT, "the signed statement is from %s, more than %s ago: fetch and sign a fresh one", st.Time, StatementMaxAge)
	}
	stale := agentos.Errorf(agentos.ECONFLICT, "the signed statement no longer describes this decision (the plan, base, policy, memory or answers moved, or another decision was sent): fetch and sign a fresh statement")
	return approval.Presigned(p.Actor(), "", st, stale, func() (*agentos.SignedStatement, error) { return signed, nil }), nil
}
