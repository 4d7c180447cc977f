package agentos

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/agentos/agentos/canonjson"
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

// ComputeHash returns the event's hash over its canonical encoding with the
// hash field empty. Times are hashed in UTC with nanoseconds so a round trip
// through the store reproduces them.
func (e Event) ComputeHash() string {
	e.Hash = ""
	e.Time = e.Time.UTC()
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("null")
	}
	return canonjson.MustDigest(e)
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
)
