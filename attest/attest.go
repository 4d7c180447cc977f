// Package attest makes and checks the attestation of an AgentOS commit: an
// in-toto v1 Statement whose subject is the commit and whose predicate is
// what governed it (plan, policy, approvals, sandbox, verify results, the
// audit chain head), in a DSSE envelope signed with the repository's audit
// key (auditkey). The envelope travels with the commit as a git note under
// NotesRef and sits next to the run's ReviewPack.
//
// Both formats are small enough to write out here: the Statement is plain
// JSON and DSSE's pre-authentication encoding is one line, so the package
// adds no dependency (in-toto's Go bindings bring protobuf).
package attest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

const (
	// StatementType is the in-toto Statement version this package writes.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType names AgentOS's predicate: what governed one run's commit.
	PredicateType = "https://agentos.dev/attestation/run/v1"
	// PayloadType is the DSSE payload type of an in-toto Statement.
	PayloadType = "application/vnd.in-toto+json"
	// NotesRef is where the envelopes are kept as git notes.
	NotesRef = "refs/notes/agentos"
	// SubjectName names the subject: a git commit, by its object id.
	SubjectName = "git+commit"
	// Unsigned is an approval's signer when the approval carries no key.
	Unsigned = "unsigned"
)

// Statement is an in-toto v1 Statement with AgentOS's predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is an in-toto ResourceDescriptor: here the commit.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate is what governed a commit, as AgentOS recorded it.
type Predicate struct {
	Task           string     `json:"task"`
	Run            string     `json:"run"`
	PlanID         string     `json:"plan_id"`
	PlanHash       string     `json:"plan_hash"`
	PolicyHash     string     `json:"policy_hash"`
	MemoryPackHash string     `json:"memory_pack_hash,omitempty"`
	IntentID       string     `json:"intent_id,omitempty"`
	Base           string     `json:"base_commit"`
	Parent         string     `json:"parent"`
	Target         string     `json:"target"`
	DiffHash       string     `json:"diff_hash"`
	Approvals      []Approval `json:"approvals"`
	Sandbox        Sandbox    `json:"sandbox"`
	Verify         []Check    `json:"verify"`
	// Audit is the audit chain head once the commit was recorded.
	Audit Checkpoint `json:"audit"`
	// CommitSigner is the fingerprint of the SSH key that signed the commit
	// object, "" when commit signing is not configured.
	CommitSigner string    `json:"commit_signer,omitempty"`
	Time         time.Time `json:"time"`
}

// Approval is one approval that counted for the plan.
type Approval struct {
	ID       int64     `json:"id"`
	Kind     string    `json:"kind"`
	Actor    string    `json:"actor"`
	PlanHash string    `json:"plan_hash"`
	Time     time.Time `json:"time"`
	// Signer is the fingerprint of the key that signed the approval, or
	// Unsigned.
	Signer string `json:"signer"`
}

// Sandbox is how the run's commands were confined.
type Sandbox struct {
	Confined bool     `json:"confined"`
	Network  bool     `json:"network"`
	AllowTCP []string `json:"allow_tcp,omitempty"`
	Profiles []string `json:"profiles,omitempty"`
	// Fallbacks name what ran a weaker way than asked (a full worktree for
	// a copy-on-write one, an unconfined command).
	Fallbacks []string `json:"fallbacks,omitempty"`
}

// Check is one verify check's result.
type Check struct {
	Name     string   `json:"name,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	OK       bool     `json:"ok"`
	ExitCode int      `json:"exit_code"`
	Default  bool     `json:"policy_default,omitempty"`
}

// Checkpoint is an audit chain position.
type Checkpoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// String is the "seq:hash" form the commit trailer uses.
func (c Checkpoint) String() string { return strconv.FormatInt(c.Seq, 10) + ":" + c.Hash }

// NewStatement wraps a predicate for commit sha.
func NewStatement(sha string, p Predicate) *Statement {
	if p.Approvals == nil {
		p.Approvals = []Approval{}
	}
	if p.Verify == nil {
		p.Verify = []Check{}
	}
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: SubjectName, Digest: map[string]string{"gitCommit": sha}}},
		PredicateType: PredicateType,
		Predicate:     p,
	}
}

// Commit returns the commit the statement is about ("" when it names none).
func (s *Statement) Commit() string {
	if len(s.Subject) != 1 {
		return ""
	}
	return s.Subject[0].Digest["gitCommit"]
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"` // base64 (standard, padded)
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"` // base64
}

// PAE is DSSE's pre-authentication encoding: what is actually signed.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	b.Write(payload)
	return b.Bytes()
}

// KeyID names an ed25519 public key the way ssh-keygen -l does
// ("SHA256:…"), so a person can match it against `ssh-keygen -lf KEY`.
func KeyID(pub ed25519.PublicKey) string {
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(sp)
}

// Sign encodes st canonically and signs it into a DSSE envelope.
func Sign(st *Statement, priv ed25519.PrivateKey) (*Envelope, error) {
	payload, err := canonjson.Marshal(st)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot encode the attestation: %v", err)
	}
	sig := ed25519.Sign(priv, PAE(PayloadType, payload))
	return &Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []Signature{{KeyID: KeyID(priv.Public().(ed25519.PublicKey)), Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Marshal is the envelope as stored (a file, a git note).
func (e *Envelope) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseEnvelope reads a stored envelope.
func ParseEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "the attestation is not a DSSE envelope: %v", err)
	}
	return &e, nil
}

// Open checks the envelope's signature by pub and returns the statement it
// carries. Only a signature by pub counts: another key's signature, however
// valid, vouches for nothing here.
func (e *Envelope) Open(pub ed25519.PublicKey) (*Statement, error) {
	if e.PayloadType != PayloadType {
		return nil, agentos.Errorf(agentos.EINVALID, "the attestation's payload type is %q, not %s", e.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, agentos.Errorf(agentos.EINVALID, "the attestation's payload is not base64: %v", err)
	}
	want := KeyID(pub)
	pae := PAE(e.PayloadType, payload)
	var keys []string
	verified := false
	for _, s := range e.Signatures {
		keys = append(keys, s.KeyID)
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		// The keyid is a hint, not trusted: every signature is tried.
		if ed25519.Verify(pub, pae, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the attestation's signature does not verify with the audit key %s (signed by %v): its payload or signature was changed, or another key signed it", want, keys)
	}
	var st Statement
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "the attestation's statement does not parse: %v", err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return nil, agentos.Errorf(agentos.EINVALID, "the attestation is a %s with predicate %s, not an AgentOS run statement", st.Type, st.PredicateType)
	}
	return &st, nil
}
