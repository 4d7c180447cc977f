// Package approval records human approvals and rejections of plans and
// decides whether a plan has the approvals it needs.
//
// An approval means "this exact plan, on this exact base, under this exact
// policy and memory": it names the plan hash and records the base commit, the
// policy hash and the MemoryPack hash the approver saw. When any of them has
// changed by the time the plan is applied, the approval is stale and Check
// refuses. Only humans approve; an agent never approves, and with four eyes
// (approvals.distinct_from_author) nobody approves a plan they wrote,
// submitted or requested. A rule may need N distinct approvers out of a
// list (N of M). A re-plan clears earlier approvals; cleared rows stay as
// history.
//
// People are keys: when the policy lists signers, every decision is an
// SSHSIG signature over a Statement, kept in its audit event, and a row
// counts only with that event and a signature that verifies against the
// listed key of the person the row names (Evidence). Without signers (solo
// use) the person is the OS user and the decision is recorded unsigned.
//
// The table is migration sqlite/migrations/0004_approvals.sql.
package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// Requirement is what one require_approval gate asks for: Approvals distinct
// humans from Approvers (empty: any human).
type Requirement struct {
	RuleID    string          `json:"rule_id"`
	Approvers []agentos.Actor `json:"approvers,omitempty"`
	Approvals int             `json:"approvals"`
	Reason    string          `json:"reason,omitempty"`
}

// need is the number of approvals r requires (at least one).
func (r Requirement) need() int { return max(r.Approvals, 1) }

// Allows reports whether a may count towards r.
func (r Requirement) Allows(a agentos.Actor) bool {
	return a.IsHuman() && (len(r.Approvers) == 0 || slices.Contains(r.Approvers, a))
}

// Kind is approve or reject.
type Kind = agentos.ApprovalKind

const (
	KindApprove = agentos.KindApprove
	KindReject  = agentos.KindReject
)

// Binding is what an approval is bound to beyond the plan hash: the world the
// approver saw. Check compares the binding recorded with the current one.
type Binding = agentos.ApprovalBinding

// Approval is one recorded approval or rejection.
type Approval = agentos.Approval

// DB is what the approval rules read and write: the approval rows and the
// audit events that prove them.
type DB interface {
	agentos.ApprovalStore
	Events(ctx context.Context, f agentos.EventFilter) ([]agentos.Event, error)
}

// Store keeps approvals through the AgentOS store.
type Store struct {
	DB DB
}

// NewStore returns the approval rules over a store.
func NewStore(db DB) *Store { return &Store{DB: db} }

// ErrPolicyChanged is the cause of a stale approval that needs a re-plan
// (the gates must run again), not a re-approval.
var ErrPolicyChanged = errors.New("the policy changed since the plan was gated")

// Request is an approval or rejection about to be recorded.
type Request struct {
	Task agentos.Task
	// Plan is the task's current plan; Given is the hash the human named.
	Plan  agentos.Plan
	Given string
	// Who decides, and what signs for them.
	Who Identity
	// Author is who proposed the plan (the actor of its plan.stored event).
	// An agent never approves its own plan (nor any other); whether a human
	// who wrote or requested it may is four eyes' call (Evidence).
	Author  agentos.Actor
	Comment string
	// Current is the world now: the approval is bound to it.
	Current Binding
	// Requirements are the plan's gate requirements (policy.Result).
	Requirements []Requirement
	// Evidence decides which recorded approvals count, and four eyes.
	Evidence *Evidence
	// Now is the time the decision is signed at.
	Now time.Time
}

// Status says how far a plan is from being approved.
type Status struct {
	PlanHash  string       `json:"plan_hash"`
	Rules     []RuleStatus `json:"rules"`
	Satisfied bool         `json:"satisfied"`
	// Already is set when the actor had approved this plan before; nothing
	// new was recorded.
	Already bool `json:"already,omitempty"`
	// Stale lists approvals of this plan that no longer count because the
	// base, policy or memory changed since they were given.
	Stale []StaleApproval `json:"stale,omitempty"`
	// Refused lists approval rows that never count: no matching signed
	// audit event, a signature that does not verify, or four eyes.
	Refused []StaleApproval `json:"refused,omitempty"`
}

// StaleApproval is an approval that no longer counts, and why.
type StaleApproval struct {
	Actor agentos.Actor `json:"actor"`
	Why   string        `json:"why"`
}

// staleWhy says what changed between an approval's binding and now.
func staleWhy(was, now Binding) string {
	switch {
	case was.Base != now.Base:
		return fmt.Sprintf("the base moved from %s to %s", short(was.Base), short(now.Base))
	case was.PolicyHash != now.PolicyHash:
		return fmt.Sprintf("the policy changed from %s to %s", was.PolicyHash, now.PolicyHash)
	case was.MemoryHash != now.MemoryHash:
		return fmt.Sprintf("the memory changed from %s to %s", was.MemoryHash, now.MemoryHash)
	}
	return ""
}

// RuleStatus is one requirement's progress.
type RuleStatus struct {
	RuleID    string          `json:"rule_id"`
	Need      int             `json:"need"`
	Have      int             `json:"have"`
	By        []agentos.Actor `json:"by,omitempty"`
	Approvers []agentos.Actor `json:"approvers,omitempty"`
}

// Missing returns how many approvals the requirement still needs.
func (r RuleStatus) Missing() int { return max(r.Need-r.Have, 0) }

// validate checks what approve and reject have in common: a human actor who
// did not author the plan, the task waiting, the hash naming its plan.
func (r Request) validate(verb string) error {
	actor := r.Who.Actor
	if r.Author != "" && actor == r.Author && !r.Author.IsHuman() {
		return agentos.Errorf(agentos.EDENIED, "%s cannot %s plan %s: it authored the plan; a human approver must decide", actor, verb, r.Plan.Hash)
	}
	if !actor.IsHuman() {
		return agentos.Errorf(agentos.EDENIED, "%s cannot %s: only a human may %s a plan (an agent identity never acts for a human)", actor, verb, verb)
	}
	if _, ok := actor.HumanName(); !ok {
		return agentos.Errorf(agentos.EDENIED, "%q cannot %s: it is not a person's name (no ':', whitespace or actor kinds such as system or agent)", actor, verb)
	}
	if r.Evidence != nil && r.Evidence.Keys.Len() > 0 && !r.Who.Signed() {
		return agentos.Errorf(agentos.EDENIED, "%s cannot %s unsigned: the policy lists signers, so a decision must be signed with a listed key (ssh-agent or --signing-key)", actor, verb)
	}
	if r.Task.State != agentos.StateAwaitingApproval {
		return agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not awaiting approval: nothing to %s (see `agentos task show %s`)", r.Task.ID, r.Task.State, verb, r.Task.ID)
	}
	if r.Given == "" || !strings.HasPrefix(r.Given, "sha256:") || len(r.Given) != len("sha256:")+64 {
		return agentos.Errorf(agentos.EINVALID, "--plan %q: name the plan hash as shown by `agentos task show %s` (sha256:…)", r.Given, r.Task.ID)
	}
	if r.Plan.Hash == "" || r.Plan.ComputeHash() != r.Plan.Hash {
		return agentos.Errorf(agentos.ECONFLICT, "stored plan %s of task %s does not hash to %s: the store was edited; re-plan the task", r.Plan.ID, r.Task.ID, r.Plan.Hash)
	}
	if r.Given != r.Plan.Hash || r.Task.PlanHash != r.Plan.Hash {
		cur := r.Task.PlanHash
		if cur == "" {
			cur = r.Plan.Hash
		}
		return agentos.Errorf(agentos.ECONFLICT, "%s is not the current plan of task %s (that is %s): review it with `agentos task show %s` and %s that hash", r.Given, r.Task.ID, cur, r.Task.ID, verb)
	}
	if r.Current.PolicyHash != "" && r.Plan.PolicyHash != "" && r.Current.PolicyHash != r.Plan.PolicyHash {
		return agentos.Errorf(agentos.ECONFLICT, "the policy changed since plan %s was gated (%s -> %s): re-plan task %s so the gates run again", r.Plan.Hash, r.Plan.PolicyHash, r.Current.PolicyHash, r.Task.ID)
	}
	return nil
}

// Approve records r.Actor's approval of the task's current plan and returns
// how far the plan is from being approved. The actor must be allowed by at
// least one requirement's approvers list. Approving twice records nothing new.
func (s *Store) Approve(ctx context.Context, r Request) (Status, error) {
	if err := r.validate("approve"); err != nil {
		return Status{}, err
	}
	if why := r.Evidence.fourEyes(r.Who.Actor); why != "" {
		return Status{}, agentos.Errorf(agentos.EDENIED, "%s cannot approve plan %s: %s; another person must approve it", r.Who.Actor, r.Plan.Hash, why)
	}
	var counts []string
	var pool []agentos.Actor
	for _, q := range r.Requirements {
		if q.Allows(r.Who.Actor) {
			counts = append(counts, q.RuleID)
		}
		pool = append(pool, q.Approvers...)
	}
	if len(r.Requirements) > 0 && len(counts) == 0 {
		return Status{}, agentos.Errorf(agentos.EDENIED, "%s is not an approver of plan %s (approvers: %s)", r.Who.Actor, r.Plan.Hash, actors(pool))
	}
	a := newApproval(KindApprove, r, counts)
	signed, err := r.Who.sign(r.statement(KindApprove), r.Now)
	if err != nil {
		return Status{}, err
	}
	if err := r.Evidence.checkOwn(r.Who.Actor, signed); err != nil {
		return Status{}, err
	}
	ev, err := r.Evidence.load(ctx, s.DB, r.Task.ID)
	if err != nil {
		return Status{}, err
	}
	r.Evidence = ev
	var st Status
	already := false
	err = s.DB.RecordApproval(ctx, a, func(active []Approval) (bool, error) {
		for _, x := range active {
			if x.Kind == KindReject && x.PlanHash == r.Plan.Hash {
				return false, agentos.Errorf(agentos.ECONFLICT, "plan %s was rejected by %s: re-plan task %s", r.Plan.Hash, x.Actor, r.Task.ID)
			}
			if x.Kind == KindApprove && x.PlanHash == r.Plan.Hash && x.Actor == r.Who.Actor && x.Binding == r.Current && r.Evidence.proves(x) == "" {
				already = true
			}
		}
		if already {
			st = status(active, r.Plan, r.Requirements, r.Current, r.Evidence, nil)
			return false, nil
		}
		st = status(active, r.Plan, r.Requirements, r.Current, r.Evidence, &a)
		return true, nil
	}, agentos.EventInput{Task: r.Task.ID, Actor: r.Who.Actor, Kind: agentos.EventApproval, Data: lazyApprovalEvent(r, KindApprove, &st, signed)})
	if err != nil {
		return Status{}, err
	}
	st.Already = already
	return st, nil
}

// lazyApprovalEvent is the approval's audit payload; it is encoded when the
// event is appended, after decide has computed the status it reports.
func lazyApprovalEvent(r Request, kind Kind, st *Status, signed *agentos.SignedStatement) json.Marshaler {
	return marshalFunc(func() ([]byte, error) {
		ev := agentos.ApprovalEvent{Decision: kind, Plan: r.Plan.ID, PlanHash: r.Plan.Hash, Binding: r.Current,
			Comment: r.Comment, Satisfied: st.Satisfied, Signed: signed, OSUser: r.Who.OSUser}
		for _, rs := range st.Rules {
			ev.Rules = append(ev.Rules, agentos.ApprovalRuleStatus(rs))
		}
		return json.Marshal(ev)
	})
}

type marshalFunc func() ([]byte, error)

func (f marshalFunc) MarshalJSON() ([]byte, error) { return f() }

func newApproval(kind Kind, r Request, rules []string) Approval {
	if rules == nil {
		rules = []string{}
	}
	return Approval{Task: r.Task.ID, Kind: kind, PlanID: r.Plan.ID, PlanHash: r.Plan.Hash, Binding: r.Current, Actor: r.Who.Actor, Comment: r.Comment, Rules: rules}
}

// statement is what r's signer signs for a decision of kind.
func (r Request) statement(kind Kind) Statement {
	st := Statement{Decision: string(kind), Task: r.Task.ID, Plan: r.Plan.ID, PlanHash: r.Plan.Hash,
		Base: r.Current.Base, PolicyHash: r.Current.PolicyHash, MemoryHash: r.Current.MemoryHash}
	if r.Comment != "" {
		st.Comment = canonjson.Sum([]byte(r.Comment))
	}
	return st
}

// Reject records r.Actor's rejection of the task's current plan; r.Comment is
// the reason. The caller moves the task to rejected.
func (s *Store) Reject(ctx context.Context, r Request) error {
	if err := r.validate("reject"); err != nil {
		return err
	}
	if strings.TrimSpace(r.Comment) == "" {
		return agentos.Errorf(agentos.EINVALID, "a rejection needs a reason: pass --reason \"…\"")
	}
	var pool []agentos.Actor
	allowed := len(r.Requirements) == 0
	for _, q := range r.Requirements {
		allowed = allowed || q.Allows(r.Who.Actor)
		pool = append(pool, q.Approvers...)
	}
	if !allowed {
		return agentos.Errorf(agentos.EDENIED, "%s is not an approver of plan %s and cannot reject it (approvers: %s)", r.Who.Actor, r.Plan.Hash, actors(pool))
	}
	signed, err := r.Who.sign(r.statement(KindReject), r.Now)
	if err != nil {
		return err
	}
	st := &Status{PlanHash: r.Plan.Hash}
	return s.DB.RecordApproval(ctx, newApproval(KindReject, r, nil), func([]Approval) (bool, error) { return true, nil },
		agentos.EventInput{Task: r.Task.ID, Actor: r.Who.Actor, Kind: agentos.EventApproval, Data: lazyApprovalEvent(r, KindReject, st, signed)})
}

// Clear makes every counting approval and rejection of task, except those of
// plan keep (empty: none), history: a re-plan calls it. It returns how many
// rows it cleared.
func (s *Store) Clear(ctx context.Context, task, keep, why string) (int, error) {
	return s.DB.ClearApprovals(ctx, task, keep, why)
}

// List returns every approval and rejection of task, oldest first, cleared
// ones included.
func (s *Store) List(ctx context.Context, task string) ([]Approval, error) {
	return s.DB.Approvals(ctx, task)
}

// Status counts, for each requirement, the distinct allowed humans whose
// approval of plan is bound to cur. Stale approvals do not count.
func (s *Store) Status(ctx context.Context, task string, plan agentos.Plan, reqs []Requirement, cur Binding, ev *Evidence) (Status, error) {
	active, err := s.DB.ActiveApprovals(ctx, task)
	if err != nil {
		return Status{}, err
	}
	if ev, err = ev.load(ctx, s.DB, task); err != nil {
		return Status{}, err
	}
	return status(active, plan, reqs, cur, ev, nil), nil
}

// status counts the approvals of active that ev proves, plus fresh (the
// approval being recorded now, whose event is appended with it).
func status(active []Approval, plan agentos.Plan, reqs []Requirement, cur Binding, ev *Evidence, fresh *Approval) Status {
	st := Status{PlanHash: plan.Hash, Satisfied: true}
	proven := make([]Approval, 0, len(active)+1)
	for _, a := range active {
		if a.Kind != KindApprove || a.PlanHash != plan.Hash {
			continue
		}
		if why := ev.proves(a); why != "" {
			if !slices.ContainsFunc(st.Refused, func(x StaleApproval) bool { return x.Actor == a.Actor }) {
				st.Refused = append(st.Refused, StaleApproval{Actor: a.Actor, Why: why})
			}
			continue
		}
		proven = append(proven, a)
	}
	if fresh != nil {
		proven = append(proven, *fresh)
	}
	active = proven
	for _, q := range reqs {
		rs := RuleStatus{RuleID: q.RuleID, Need: q.need(), Approvers: q.Approvers}
		for _, a := range active {
			if a.Kind != KindApprove || a.PlanHash != plan.Hash || a.PlanID != plan.ID || a.Binding != cur {
				continue
			}
			if q.Allows(a.Actor) && !slices.Contains(rs.By, a.Actor) {
				rs.By = append(rs.By, a.Actor)
			}
		}
		rs.Have = len(rs.By)
		for _, a := range active {
			if a.Kind == KindApprove && a.PlanHash == plan.Hash && a.PlanID == plan.ID && a.Binding != cur &&
				q.Allows(a.Actor) && !slices.Contains(rs.By, a.Actor) && !slices.ContainsFunc(st.Stale, func(x StaleApproval) bool { return x.Actor == a.Actor }) {
				st.Stale = append(st.Stale, StaleApproval{Actor: a.Actor, Why: staleWhy(a.Binding, cur)})
			}
		}
		if rs.Have < rs.Need {
			st.Satisfied = false
		}
		st.Rules = append(st.Rules, rs)
	}
	return st
}

// Check is admission's approval gate: nil when every requirement has enough
// fresh approvals of exactly this plan. Otherwise it returns EDENIED when the
// plan was rejected, ECONFLICT when approvals exist but are stale (base,
// policy or memory changed) and EAWAITINGAPPROVAL when approvals are missing.
//
// Only approvals ev proves count: a row without its (signed, when signers
// are listed) audit event, or by an author under four eyes, is refused.
func Check(ctx context.Context, db DB, task agentos.Task, plan agentos.Plan, reqs []Requirement, cur Binding, ev *Evidence) error {
	if len(reqs) == 0 {
		return nil
	}
	active, err := db.ActiveApprovals(ctx, task.ID)
	if err != nil {
		return err
	}
	if ev, err = ev.load(ctx, db, task.ID); err != nil {
		return err
	}
	for _, a := range active {
		if a.Kind == KindReject && a.PlanHash == plan.Hash {
			return agentos.Errorf(agentos.EDENIED, "plan %s was rejected by %s: %s", plan.Hash, a.Actor, a.Comment)
		}
	}
	if plan.PolicyHash != "" && cur.PolicyHash != "" && plan.PolicyHash != cur.PolicyHash {
		return agentos.WrapError(agentos.ECONFLICT, ErrPolicyChanged, "approval is stale: the policy changed from %s to %s since plan %s was gated; re-plan task %s", plan.PolicyHash, cur.PolicyHash, plan.Hash, task.ID)
	}
	st := status(active, plan, reqs, cur, ev, nil)
	if st.Satisfied {
		return nil
	}
	approveCmd := fmt.Sprintf("`agentos approve %s --plan %s`", task.ID, plan.Hash)
	for _, a := range active {
		if a.Kind == KindApprove && a.PlanHash == plan.Hash && a.Binding != cur {
			return agentos.Errorf(agentos.ECONFLICT, "approval is stale: %s; re-approve with %s", staleWhy(a.Binding, cur), approveCmd)
		}
	}
	return agentos.Errorf(agentos.EAWAITINGAPPROVAL, "plan %s of task %s needs %s: run %s", plan.Hash, task.ID, st.Needs(), approveCmd)
}

// Needs describes the missing approvals in one phrase.
func (st Status) Needs() string {
	var parts []string
	for _, r := range st.Rules {
		m := r.Missing()
		if m == 0 {
			continue
		}
		p := fmt.Sprintf("%d more approval", m)
		if m > 1 {
			p += "s"
		}
		p += " for " + r.RuleID
		if len(r.Approvers) > 0 {
			p += " from " + actors(r.Approvers)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "no more approvals"
	}
	out := strings.Join(parts, ", ")
	for _, x := range st.Stale {
		out += fmt.Sprintf(" (the approval by %s is stale: %s)", x.Actor, x.Why)
	}
	for _, x := range st.Refused {
		out += fmt.Sprintf(" (the approval by %s does not count: %s)", x.Actor, x.Why)
	}
	return out
}

func actors(as []agentos.Actor) string {
	if len(as) == 0 {
		return "any human"
	}
	var ss []string
	for _, a := range as {
		if !slices.Contains(ss, string(a)) {
			ss = append(ss, string(a))
		}
	}
	return strings.Join(ss, ", ")
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	if commit == "" {
		return "(none)"
	}
	return commit
}
