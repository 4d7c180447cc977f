package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/signers"
)

// StatementType names the format of a signed decision.
const StatementType = "agentos.decision/v1"

// Statement is what a person signs when they approve, reject or answer:
// the task, the plan hash, the world they saw (base commit, policy hash,
// MemoryPack digest), their decision (and for answers the answers'
// digest), who they are and when. Its canonical JSON is the signed message.
type Statement struct {
	Type       string        `json:"type"`
	Decision   string        `json:"decision"` // approve | reject | answer
	Task       string        `json:"task"`
	Plan       string        `json:"plan,omitempty"`
	PlanHash   string        `json:"plan_hash,omitempty"`
	Base       string        `json:"base_commit,omitempty"`
	PolicyHash string        `json:"policy_hash"`
	MemoryHash string        `json:"memory_hash,omitempty"`
	Questions  string        `json:"question_pack,omitempty"` // the QuestionPack hash answered
	Answers    string        `json:"answers,omitempty"`       // the AnswerPack's digest
	Comment    string        `json:"comment,omitempty"`       // digest of the comment or reason
	Signer     agentos.Actor `json:"signer"`
	Time       string        `json:"time"` // RFC 3339, UTC
}

// Encode returns the statement's canonical bytes.
func (s Statement) Encode() []byte {
	b, err := canonjson.Marshal(s)
	if err != nil {
		panic(err) // strings only
	}
	return b
}

// ParseStatement decodes signed statement bytes and checks that they are
// the canonical encoding (so what was verified is what is read).
func ParseStatement(b []byte) (Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return Statement{}, fmt.Errorf("statement does not decode: %v", err)
	}
	if s.Type != StatementType {
		return Statement{}, fmt.Errorf("statement type %q, want %q", s.Type, StatementType)
	}
	if string(s.Encode()) != string(b) {
		return Statement{}, fmt.Errorf("statement is not in canonical form")
	}
	return s, nil
}

// Identity is who decides and what proves it.
type Identity struct {
	// Actor is human:NAME: the listed person whose key signs, or (solo
	// use, no signers listed) the OS user running the command.
	Actor agentos.Actor
	// OSUser is the operating-system user running the command.
	OSUser string
	// Sign signs statement bytes with the person's key; nil when no
	// signers are listed (the decision is recorded unsigned).
	Sign func(msg []byte) (*agentos.SignedStatement, error)
}

// Signed reports whether decisions of id are signed.
func (id Identity) Signed() bool { return id.Sign != nil }

// sign builds and signs the statement of a decision; nil when unsigned.
func (id Identity) sign(st Statement, now time.Time) (*agentos.SignedStatement, error) {
	if id.Sign == nil {
		return nil, nil
	}
	st.Type = StatementType
	st.Signer = id.Actor
	st.Time = now.UTC().Format(time.RFC3339)
	ss, err := id.Sign(st.Encode())
	if err != nil {
		return nil, agentos.WrapError(agentos.EDENIED, err, "cannot sign the %s as %s: %v", st.Decision, id.Actor, err)
	}
	return ss, nil
}

// SignStatement signs the statement of an answer (package coordinator
// records it with the AnswerPack).
func (id Identity) SignStatement(st Statement, now time.Time) (*agentos.SignedStatement, error) {
	return id.sign(st, now)
}

// Evidence is what decides whether an approval row counts: the signers of
// the policy in force and the plan's authors (four eyes). The task's
// approval events are read from the store by whoever counts (load), never
// handed in, so no caller can count a row without its event.
type Evidence struct {
	// events are the task's approval audit events.
	events []agentos.Event
	// Keys are the policy's signers; empty: solo use, unsigned approvals.
	Keys *signers.Keyring
	// Authors wrote, submitted or requested the plan.
	Authors []agentos.Actor
	// FourEyes is approvals.distinct_from_author.
	FourEyes bool
}

// proves says why row a does not count (empty: it counts). A row counts only
// with its audit event (same task, plan, actor, binding) whose signature
// verifies against a listed key of that very person with the approve role,
// over a statement naming exactly what the row says; without signers, the
// event must exist and the actor be a valid person's name. So a row
// inserted into the store by hand, or an event whose signature is missing,
// is never an approval.
func (ev *Evidence) proves(a Approval) string {
	name, ok := a.Actor.HumanName()
	if !ok {
		return fmt.Sprintf("%q is not a person's name", a.Actor)
	}
	if why := ev.fourEyes(a.Actor); why != "" {
		return why
	}
	why := "no signed approval event records it (the row was not written by `agentos approve`)"
	if ev.Keys.Len() == 0 {
		why = "no approval event records it (the row was not written by `agentos approve`)"
	}
	for _, e := range ev.events {
		if e.Task != a.Task || e.Actor != a.Actor || e.Kind != agentos.EventApproval {
			continue
		}
		var d agentos.ApprovalEvent
		if json.Unmarshal(e.Data, &d) != nil || d.Decision != a.Kind || d.Plan != a.PlanID || d.PlanHash != a.PlanHash || d.Binding != a.Binding {
			continue
		}
		if ev.Keys.Len() == 0 {
			return ""
		}
		if d.Signed == nil {
			why = "its approval event is unsigned, and the policy lists signers"
			continue
		}
		p, _, err := ev.Keys.Verify([]byte(d.Signed.Statement), d.Signed.Signature)
		if err != nil {
			why = err.Error()
			continue
		}
		if p.Name != name || !p.Can(signers.RoleApprove) {
			why = fmt.Sprintf("signed with %s's key, not %s's, or %s may not approve", p.Name, name, p.Name)
			continue
		}
		st, err := ParseStatement([]byte(d.Signed.Statement))
		if err != nil {
			why = err.Error()
			continue
		}
		if st.Decision != string(a.Kind) || st.Task != a.Task || st.Plan != a.PlanID || st.PlanHash != a.PlanHash || st.Base != a.Binding.Base ||
			st.PolicyHash != a.Binding.PolicyHash || st.MemoryHash != a.Binding.MemoryHash || st.Signer != a.Actor {
			why = "the signed statement names another decision than the row"
			continue
		}
		return ""
	}
	return why
}

// checkOwn verifies a decision just signed for actor against the listed
// keys, so that a signature admission would refuse is never recorded as
// counting (nothing to check in solo use).
func (ev *Evidence) checkOwn(actor agentos.Actor, signed *agentos.SignedStatement) error {
	if ev == nil || ev.Keys.Len() == 0 {
		return nil
	}
	if signed == nil {
		return agentos.Errorf(agentos.EDENIED, "%s cannot decide unsigned: the policy lists signers", actor)
	}
	p, _, err := ev.Keys.Verify([]byte(signed.Statement), signed.Signature)
	if err != nil {
		return agentos.WrapError(agentos.EDENIED, err, "the signature made for %s does not verify: %v", actor, err)
	}
	if p.Actor() != actor || !p.Can(signers.RoleApprove) {
		return agentos.Errorf(agentos.EDENIED, "the key that signed is %s's, who may not approve as %s", p.Name, actor)
	}
	return nil
}

// load returns a copy of ev (the zero Evidence when nil: solo rules, no
// four eyes) holding task's approval events from db.
func (ev *Evidence) load(ctx context.Context, db DB, task string) (*Evidence, error) {
	out := &Evidence{}
	if ev != nil {
		*out = *ev
	}
	evs, err := db.Events(ctx, agentos.EventFilter{Task: task, Kind: agentos.EventApproval})
	if err != nil {
		return nil, err
	}
	out.events = evs
	return out, nil
}

// fourEyes says why actor may not approve a plan of ev.Authors, or "". A
// listed person is every one of their principals: "alice,ajones ssh-ed25519
// …" makes a plan run by the OS user ajones alice's own.
func (ev *Evidence) fourEyes(actor agentos.Actor) string {
	if ev == nil || !ev.FourEyes {
		return ""
	}
	names := []string{string(actor)}
	if p, ok := ev.Keys.Person(string(actor)); ok {
		for _, n := range append([]string{p.Name}, p.Principals...) {
			names = append(names, string(agentos.Human(n)))
		}
	}
	for _, a := range ev.Authors {
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, string(a)) }) {
			return fmt.Sprintf("%s wrote, submitted or requested the plan (approvals.distinct_from_author)", a)
		}
	}
	return ""
}

// Unsigned is the statement signer would sign for decision kind on r at
// now, exactly as Identity.sign completes it: what a person who signs
// elsewhere (the HTTP API hands it out) signs.
func (r Request) Unsigned(kind Kind, signer agentos.Actor, now time.Time) Statement {
	st := r.statement(kind)
	st.Type, st.Signer, st.Time = StatementType, signer, now.UTC().Format(time.RFC3339)
	return st
}

// SameDecision reports whether a and b state the same decision, by the same
// signer, on the same world: every field but the time of signing.
func SameDecision(a, b Statement) bool {
	a.Time, b.Time = "", ""
	return a == b
}

// Presigned is the Identity of a person who signed signed beforehand,
// through the API or the web page, rather than when the pipeline asks:
// when the decision is recorded, the statement the pipeline builds then
// must be the same decision (all but its time), or the decision is refused
// with stale; proof then gives the signature to record (admission verifies
// it again, as every signature).
func Presigned(actor agentos.Actor, osUser string, signed Statement, stale error, proof func() (*agentos.SignedStatement, error)) Identity {
	return Identity{Actor: actor, OSUser: osUser, Sign: func(msg []byte) (*agentos.SignedStatement, error) {
		now, err := ParseStatement(msg)
		if err != nil {
			return nil, err
		}
		if !SameDecision(now, signed) {
			return nil, stale
		}
		return proof()
	}}
}
