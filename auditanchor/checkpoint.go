// Package auditanchor anchors the audit chain outside its database: signed
// checkpoints of the chain head (kept in a file log under .agentos/ and,
// to be pushed with the branch, in the git ref refs/agentos/audit), the
// AgentOS-Audit trailer every AgentOS commit carries, and the verifier that
// holds the chain to all of them (docs/audit.md).
//
// A checkpoint is a statement by the repository's audit key (package
// auditkey): "store S's audit chain had event SEQ with hash H at time T".
// Someone who rewrites the database without that key cannot make a new
// checkpoint, and every old one, every pushed commit trailer and every
// ReviewPack still names the events as they were.
package auditanchor

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
	"github.com/agentos/agentos/canonjson"
)

// Checkpoint is one signed statement of the chain head.
type Checkpoint struct {
	Version int       `json:"version"`
	Store   string    `json:"store"`
	Seq     int64     `json:"seq"`
	Head    string    `json:"head"`
	Time    time.Time `json:"time"`
	// Since, on a store's first checkpoint (Seq 0, written by `agentos
	// init`), is the target branch's head when the store began: commits up
	// to it carry trailers of an earlier store's chain.
	Since string `json:"since,omitempty"`
	// Key is the signer's public key in authorized_keys form.
	Key string `json:"key"`
	// Sig is the base64 ed25519 signature of SignedBytes.
	Sig string `json:"sig,omitempty"`
}

// signContext separates checkpoint signatures from anything else the
// audit key signs (attestations): the same bytes can never be replayed as
// another kind of statement.
const signContext = "agentos-audit-checkpoint-v1\n"

// SignedBytes is what the signature covers: the context string and the
// checkpoint's canonical JSON without its signature.
func (c Checkpoint) SignedBytes() []byte {
	c.Sig = ""
	b, err := canonjson.Marshal(c)
	if err != nil {
		panic(err) // plain fields always encode
	}
	return append([]byte(signContext), b...)
}

// New signs a checkpoint of (seq, head) of store with key.
func New(key *auditkey.Key, store string, seq int64, head string, now time.Time) Checkpoint {
	c := Checkpoint{Version: 1, Store: store, Seq: seq, Head: head, Time: now.UTC().Truncate(time.Millisecond), Key: key.AuthorizedKey()}
	c.Sign(key)
	return c
}

// Sign (re)computes the signature with key.
func (c *Checkpoint) Sign(key *auditkey.Key) {
	c.Key = key.AuthorizedKey()
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key.Private, c.SignedBytes()))
}

// Verify checks the signature against pinned (the key the committed policy
// names) when given, else against the key the checkpoint names.
func (c Checkpoint) Verify(pinned ed25519.PublicKey) error {
	if c.Version != 1 {
		return agentos.Errorf(agentos.ECONFLICT, "checkpoint %d: unknown version %d", c.Seq, c.Version)
	}
	pub := pinned
	if pub == nil {
		k, err := auditkey.ParsePublic(c.Key)
		if err != nil {
			return agentos.Errorf(agentos.ECONFLICT, "checkpoint %d: its key does not parse", c.Seq)
		}
		pub = k
	} else if c.Key != auditkey.PublicString(pinned) {
		return agentos.Errorf(agentos.ECONFLICT, "checkpoint %d is signed by %s, not by the pinned audit.public_key", c.Seq, c.Key)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	if err != nil || !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return agentos.Errorf(agentos.ECONFLICT, "checkpoint %d (head %s): its signature does not verify: the checkpoint was edited or forged", c.Seq, c.Head)
	}
	return nil
}

// Parse reads one checkpoint's JSON.
func Parse(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return c, agentos.Errorf(agentos.ECONFLICT, "a checkpoint does not parse: %v", err)
	}
	return c, nil
}

// Marshal is a checkpoint's one-line JSON.
func (c Checkpoint) Marshal() []byte {
	b, err := canonjson.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}
