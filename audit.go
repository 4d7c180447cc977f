package agentos

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Actor names who did something: "human:NAME", "agent:ID" or "system".
type Actor string

// System is the actor of AgentOS's own decisions.
const System Actor = "system"

// Human returns the actor for a person.
func Human(name string) Actor { return Actor("human:" + name) }

// Agent returns the actor for a planner or contractor.
func Agent(id string) Actor { return Actor("agent:" + id) }

// IsHuman reports whether a is a person.
func (a Actor) IsHuman() bool {
	return strings.HasPrefix(string(a), "human:") && len(a) > len("human:")
}

// IsAgent reports whether a is a planner or contractor.
func (a Actor) IsAgent() bool { return strings.HasPrefix(string(a), "agent:") }

// Event is one audit log entry. The log is append-only and hash-chained:
// Hash covers every other field including PrevHash.
type Event struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Task     string          `json:"task,omitempty"`
	Run      string          `json:"run,omitempty"`
	Actor    Actor           `json:"actor"`
	Kind     string          `json:"kind"`
	Data     json.RawMessage `json:"data"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// GenesisHash is the PrevHash of the first event.
const GenesisHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the event's hash: SHA-256 over its fields (hash
// excluded) in a fixed order, each length-prefixed, with Data as the exact
// stored bytes (canonical JSON when appended). Length prefixes make the
// encoding unambiguous; hashing the stored bytes means any edit is seen, and
// verifying needs no JSON re-encoding, which keeps `audit verify` fast.
func (e Event) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	field([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	field([]byte(e.Task))
	field([]byte(e.Run))
	field([]byte(e.Actor))
	field([]byte(e.Kind))
	field(e.Data)
	field([]byte(e.PrevHash))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Audit event kinds.
const (
	EventTaskCreated = "task.created"
	EventTransition  = "task.transition"
	EventPlanStored  = "plan.stored"
	EventMemoryPack  = "memory.pack"
	EventStep        = "step.record"
	EventGate        = "gate.decision"
	EventCommit      = "commit"
	EventIntegrated  = "integrated"
	EventReview      = "review.written"
	EventRollback    = "rollback"
	EventQuestions   = "questions.asked"
	EventAnswers     = "answers.given"
	EventCommandRule = "command.decision"
	EventApproval    = "approval"
	// EventCancelRequested: a person asked the live runner of a task to
	// stop (`agentos task cancel` while its lease is held); the runner
	// polls for it and ends the task cancelled.
	EventCancelRequested = "task.cancel_requested"
	// EventMemoryWrite: a memory item was added, edited, removed or
	// promoted, and by whom.
	EventMemoryWrite = "memory.write"
)

// CancelRequestEvent is the data of task.cancel_requested.
type CancelRequestEvent struct {
	Reason string `json:"reason"`
	// Lease and Owner name the runner asked to stop.
	Lease string `json:"lease"`
	Owner string `json:"owner"`
}
