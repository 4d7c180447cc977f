package agentos

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Typed audit payloads: one struct per event kind the pipeline and the
// stores write. Every writer builds its event's data from these (both store
// adapters through the constructors below, so they cannot drift), and every
// reader decodes into them instead of searching the JSON text.

// TaskCreatedEvent is the data of task.created.
type TaskCreatedEvent struct {
	Goal    string   `json:"goal"`
	Mode    Mode     `json:"mode"`
	Planner string   `json:"planner"`
	Target  string   `json:"target"`
	Labels  []string `json:"labels"`
}

// NewTaskCreatedEvent is the task.created event of t.
func NewTaskCreatedEvent(t *Task) EventInput {
	labels := t.Labels
	if labels == nil {
		labels = []string{}
	}
	return EventInput{Task: t.ID, Actor: t.Submitter, Kind: EventTaskCreated,
		Data: TaskCreatedEvent{Goal: t.Goal, Mode: t.Mode, Planner: t.Planner, Target: t.Target, Labels: labels}}
}

// TransitionEvent is the data of task.transition: the store adapter fills
// From, To and Reason; the caller of Store.Transition gives the detail.
type TransitionEvent struct {
	From   State  `json:"from"`
	To     State  `json:"to"`
	Reason string `json:"reason,omitempty"`
	TransitionDetail
}

// TransitionDetail is what a transition's caller adds to its audit event
// (the plan approved, the conflicting paths, …); each field is set by the
// transitions that have it.
type TransitionDetail struct {
	Phase        string                `json:"phase,omitempty"`         // where planning, admission or a rollback failed
	Gate         string                `json:"gate,omitempty"`          // the gates' effect
	Approved     string                `json:"approved,omitempty"`      // the plan hash an approval completed
	Decision     string                `json:"decision,omitempty"`      // "reject" on a rejection
	PlanHash     string                `json:"plan_hash,omitempty"`     // the plan stored or rejected
	Binding      *ApprovalBinding      `json:"binding,omitempty"`       // the world a rejection saw
	AnswerPack   string                `json:"answer_pack,omitempty"`   // the AnswerPack that resumed the task
	QuestionPack string                `json:"question_pack,omitempty"` // the QuestionPack that blocked it
	Conflict     []string              `json:"conflict,omitempty"`      // paths of a rebase conflict
	Conflicts    []string              `json:"conflicts,omitempty"`     // paths a refused rollback conflicts on
	Commit       string                `json:"commit,omitempty"`        // the commit a task landed
	Takeover     bool                  `json:"takeover,omitempty"`      // a worker took over a dead runner's task
	Revert       string                `json:"revert,omitempty"`        // the commit that rolled it back
	RollbackOf   string                `json:"rollback_of,omitempty"`   // the task a rollback task reverts
	RollbackTask string                `json:"rollback_task,omitempty"` // the rollback task that reverted it
	Run          string                `json:"run,omitempty"`           // the run that started or ended
	Expired      bool                  `json:"expired,omitempty"`       // cancelled past blocked_expires_after
	Signal       string                `json:"signal,omitempty"`        // the signal that stopped the run (SIGINT, SIGTERM, SIGHUP)
	Requirements []ApprovalRequirement `json:"requirements,omitempty"`  // who must approve (policy)
}

// ApprovalRequirement is one require_approval rule's requirement as
// audited (package approval's Requirement converts to it).
type ApprovalRequirement struct {
	RuleID    string  `json:"rule_id"`
	Approvers []Actor `json:"approvers,omitempty"`
	Approvals int     `json:"approvals"`
	Reason    string  `json:"reason,omitempty"`
}

// NewTransitionEvent is the task.transition event of task t moved from
// `from` to its state by actor; reason is recorded when the transition set
// one. Both store adapters build the event here, so they cannot drift.
func NewTransitionEvent(t *Task, from State, actor Actor, reasonSet bool, detail TransitionDetail) EventInput {
	ev := TransitionEvent{From: from, To: t.State, TransitionDetail: detail}
	if reasonSet {
		ev.Reason = t.Reason
	}
	return EventInput{Task: t.ID, Run: t.RunID, Actor: actor, Kind: EventTransition, Data: ev}
}

// PlanStoredEvent is the data of plan.stored.
type PlanStoredEvent struct {
	Plan       string `json:"plan"`
	Hash       string `json:"hash"`
	Base       string `json:"base"`
	MemoryPack string `json:"memory_pack"`
	Policy     string `json:"policy"`
	Steps      int    `json:"steps"`
	Verify     int    `json:"verify"`
}

// NewPlanStoredEvent is the plan.stored event of p (hashed) by actor.
func NewPlanStoredEvent(p *Plan, actor Actor) EventInput {
	return EventInput{Task: p.Task, Actor: actor, Kind: EventPlanStored, Data: PlanStoredEvent{
		Plan: p.ID, Hash: p.Hash, Base: p.BaseCommit, MemoryPack: p.MemoryPackHash, Policy: p.PolicyHash,
		Steps: len(p.Steps), Verify: len(p.Verify)}}
}

// MemoryPackEvent is the data of memory.pack.
type MemoryPackEvent struct {
	Pack  string   `json:"pack"`
	Hash  string   `json:"hash"`
	Items []string `json:"items"`
}

// NewMemoryPackEvent is the memory.pack event of m (hashed) by actor.
func NewMemoryPackEvent(m *MemoryPack, actor Actor) EventInput {
	ids := make([]string, 0, len(m.Items))
	for _, it := range m.Items {
		ids = append(ids, it.ID)
	}
	return EventInput{Task: m.Task, Actor: actor, Kind: EventMemoryPack, Data: MemoryPackEvent{Pack: m.ID, Hash: m.Hash, Items: ids}}
}

// NewStepEvent is the step.record event: the data is the StepRecord.
func NewStepEvent(task string, rec StepRecord, actor Actor) EventInput {
	return EventInput{Task: task, Run: rec.Run, Actor: actor, Kind: EventStep, Data: rec}
}

// CommitEvent is the data of commit.
type CommitEvent struct {
	SHA      string            `json:"sha"`
	Branch   string            `json:"branch"`
	Kind     string            `json:"kind"`
	Trailers map[string]string `json:"trailers"`
}

// NewCommitEvent is the commit event of c by actor.
func NewCommitEvent(c CommitRow, actor Actor) EventInput {
	return EventInput{Task: c.Task, Run: c.Run, Actor: actor, Kind: EventCommit,
		Data: CommitEvent{SHA: c.SHA, Branch: c.Branch, Kind: c.Kind, Trailers: c.Trailers}}
}

// GateEvent is the data of gate.decision.
type GateEvent struct {
	PlanHash string       `json:"plan_hash"`
	Decision GateDecision `json:"decision"`
}

// NewGateEvent is the gate.decision event of one decision on a plan.
func NewGateEvent(task, planHash string, d GateDecision, actor Actor) EventInput {
	return EventInput{Task: task, Actor: actor, Kind: EventGate, Data: GateEvent{PlanHash: planHash, Decision: d}}
}

// ReviewEvent is the data of review.written.
type ReviewEvent struct {
	Hash    string `json:"hash"`
	Outcome State  `json:"outcome"`
}

// NewReviewEvent is the review.written event of rp.
func NewReviewEvent(rp *ReviewPack) EventInput {
	return EventInput{Task: rp.Task, Run: rp.Run, Actor: System, Kind: EventReview, Data: ReviewEvent{Hash: rp.Hash, Outcome: rp.Outcome}}
}

// IntegratedEvent is the data of integrated.
type IntegratedEvent struct {
	Target string `json:"target"`
	Remote string `json:"remote,omitempty"`
	Commit string `json:"commit"`
	From   string `json:"from,omitempty"`
	Landed bool   `json:"landed"`
	Note   string `json:"note,omitempty"`
}

// QuestionsEvent is the data of questions.asked.
type QuestionsEvent struct {
	Pack      string   `json:"pack"`
	Hash      string   `json:"hash"`
	Questions []string `json:"questions"`
	Budget    Budget   `json:"budget"`
}

// AnswersEvent is the data of answers.given.
type AnswersEvent struct {
	Pack       string   `json:"pack"`
	AnswerPack string   `json:"answer_pack"`
	Who        Actor    `json:"who"`
	Answers    []string `json:"answers"`
	// Signed is the answerer's SSH signature over the answers (nil in solo use).
	Signed *SignedStatement `json:"signed,omitempty"`
	// OSUser is the operating-system user who ran the command.
	OSUser string `json:"os_user,omitempty"`
}

// MemoryWriteEvent is the data of memory.write: one change to the memory
// future plans are made with. The event's actor is who made it (for the
// memory service: the client its bearer token names).
type MemoryWriteEvent struct {
	Op         string     `json:"op"` // add, edit, remove, promote
	Item       string     `json:"item,omitempty"`
	Supersedes string     `json:"supersedes,omitempty"`
	Kind       MemoryKind `json:"kind,omitempty"`
	Author     string     `json:"author,omitempty"`
	Source     string     `json:"source,omitempty"`
	TextHash   string     `json:"text_hash,omitempty"` // sha256 of the stored text
	Client     string     `json:"client,omitempty"`    // memory service client name
}

// RollbackEvent is the data of rollback, always on the task being rolled
// back: a rollback task was requested for it, refused, or landed.
type RollbackEvent struct {
	Stage     string   `json:"stage"`
	Task      string   `json:"rollback_task"`
	Reverted  string   `json:"reverted"`
	Commit    string   `json:"commit,omitempty"`    // landed: the revert commit
	Conflicts []string `json:"conflicts,omitempty"` // refused
}

// CommandRuleEvent is the data of command.decision: the command rules'
// decision on one command right before it runs.
type CommandRuleEvent struct {
	Rule     string `json:"rule"`
	Decision string `json:"decision"`
	// Argv is the command as matched: argv[0] resolved to its real path.
	Argv   []string `json:"argv"`
	Reason string   `json:"reason"`
	Exe    string   `json:"exe"`
	// Commands lists each command of a compound line with its decision.
	Commands []CommandRuleSub `json:"commands,omitempty"`
}

// CommandRuleSub is one command of a compound line (package cmdrule's
// Decision as audited).
type CommandRuleSub struct {
	RuleID   string           `json:"rule_id"`
	Effect   string           `json:"effect"`
	Argv     []string         `json:"argv"`
	Reason   string           `json:"reason"`
	Commands []CommandRuleSub `json:"commands,omitempty"`
}

// ApprovalEvent is the data of approval: one recorded approval and the
// status it left the plan in.
type ApprovalEvent struct {
	Decision  ApprovalKind         `json:"decision"`
	Plan      string               `json:"plan"`
	PlanHash  string               `json:"plan_hash"`
	Binding   ApprovalBinding      `json:"binding"`
	Comment   string               `json:"comment"`
	Satisfied bool                 `json:"satisfied"`
	Rules     []ApprovalRuleStatus `json:"rules"`
	// Signed is the approver's SSH signature over the decision (package
	// approval's Statement); nil when no signers are listed (solo use),
	// where the actor is the OS user who ran the command.
	Signed *SignedStatement `json:"signed,omitempty"`
	// OSUser is the operating-system user who ran the command.
	OSUser string `json:"os_user,omitempty"`
}

// ApprovalRuleStatus is where one requirement stands (package approval's
// RuleStatus as audited).
type ApprovalRuleStatus struct {
	RuleID    string  `json:"rule_id"`
	Need      int     `json:"need"`
	Have      int     `json:"have"`
	By        []Actor `json:"by,omitempty"`
	Approvers []Actor `json:"approvers,omitempty"`
}

// Audit event kinds of lock changes someone must be able to account for
// (package lock re-exports them).
const (
	// EventLockTakeover: an expired lease was taken over by a new holder.
	EventLockTakeover = "lock.takeover"
	// EventLockForceRelease: a human removed a lease with --force and a reason.
	EventLockForceRelease = "lock.force_release"
	// EventLockLost: a holder found its lease gone (expired and taken over,
	// or force-released) and stopped.
	EventLockLost = "lock.lost"
)

// LockTakeoverEvent is the data of lock.takeover.
type LockTakeoverEvent struct {
	Expired Lease  `json:"expired"` // the lease taken over
	By      string `json:"by"`      // the new holder
	Lease   string `json:"lease"`   // the new lease
}

// LockForceReleaseEvent is the data of lock.force_release.
type LockForceReleaseEvent struct {
	Lease  Lease  `json:"lease"`
	Reason string `json:"reason"`
}

// LockLostEvent is the data of lock.lost.
type LockLostEvent struct {
	Lease Lease  `json:"lease"`
	Error string `json:"error"`
}

// Audit event kinds of model planners and contractors (package coordinator).
const (
	EventPlannerCall        = "planner.call"        // one model call: tokens, latency, outcome (data: PlannerCall)
	EventPlannerRefused     = "planner.refused"     // the model's last unusable answer
	EventContractorRun      = "contractor.run"      // exit, duration, steps, commands
	EventContractorDecision = "contractor.decision" // one hook decision
)

// EventPlanRefused: a plan file refused before any task was made for it
// (a red line, a malformed step): the refusal is audited, and no failed
// task clutters the list (data: PlanRefusedEvent).
const EventPlanRefused = "plan.refused"

// PlanRefusedEvent is the data of plan.refused.
type PlanRefusedEvent struct {
	File  string `json:"file"`
	Goal  string `json:"goal"`
	Code  string `json:"code"`
	Error string `json:"error"`
	// PlanSHA256 is the digest of the plan file's bytes as read.
	PlanSHA256 string `json:"plan_sha256"`
}

// PlannerRefusedEvent is the data of planner.refused.
type PlannerRefusedEvent struct {
	Error      string `json:"error"`
	LastAnswer string `json:"last_answer"`
}

// ContractorRunEvent is the data of contractor.run.
type ContractorRunEvent struct {
	Contractor       string              `json:"contractor"`
	ExitCode         int                 `json:"exit_code"`
	DurationMS       int64               `json:"duration_ms"`
	TimedOut         bool                `json:"timed_out"`
	Unconfined       bool                `json:"unconfined"`
	Steps            int                 `json:"steps"`
	Commands         []ContractorCommand `json:"commands"`
	Error            string              `json:"error"`
	TranscriptDigest string              `json:"transcript_digest"`
	TranscriptTail   string              `json:"transcript_tail"`
}

// ContractorCommand is one shell command a contractor attempted (package
// contractor's Command converts to it).
type ContractorCommand struct {
	Command string `json:"command"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// ContractorDecisionEvent is the data of contractor.decision: one hook
// decision (package contractor's Decision converts to it).
type ContractorDecisionEvent struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Tool    string    `json:"tool"`
	Command string    `json:"command,omitempty"`
	Path    string    `json:"path,omitempty"`
	Allow   bool      `json:"allow"`
	Ask     bool      `json:"ask,omitempty"`
	Rule    string    `json:"rule"`
	Reason  string    `json:"reason"`
}

// EventHookDecision is audited for each tool call `agentos hook claude|codex`
// decides in a person's own agent session (hook mode, outside any AgentOS
// run): the hash-chained record of what the agent tried. A contractor run's
// calls are contractor.decision events of its task.
const EventHookDecision = "hook.decision"

// HookDecisionEvent is the data of hook.decision. Command and Reason pass
// the store's audit redaction like every event's data.
type HookDecisionEvent struct {
	Agent     string `json:"agent"`      // the hook protocol: claude or codex
	SessionID string `json:"session_id"` // the agent CLI's session
	// Event is the hook event: PreToolUse, or PermissionRequest (the CLI
	// is about to prompt the person; AgentOS can only refuse it).
	Event string `json:"event,omitempty"`
	// ToolUseID is the CLI's id of the call, linking an "ask" to the
	// person's answer (decision "approved", from PostToolUse).
	ToolUseID string `json:"tool_use_id,omitempty"`
	Tool      string `json:"tool"`
	Command   string `json:"command,omitempty"`
	Path      string `json:"path,omitempty"`
	// Decision is allow, deny or ask (handed to the CLI's own prompt); or
	// approved: an asked call ran, so the person allowed it.
	Decision string `json:"decision"`
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
	// Mode is the hook's mode: session (a person's session; asks can
	// reach the person) or full_auto (nobody answers; asks are denied).
	Mode string `json:"mode"`
	// Policy is the digest of the policy the decision was made under.
	Policy string `json:"policy,omitempty"`
	// Cwd is the directory the call runs in.
	Cwd string `json:"cwd,omitempty"`
}

// EventWorktreeRemoved is audited for each retained worktree housekeeping
// removes.
const EventWorktreeRemoved = "worktree.removed"

// WorktreeRemovedEvent is the data of worktree.removed.
type WorktreeRemovedEvent struct {
	// Path is the worktree's directory, relative to the repository root.
	Path string `json:"path"`
	// Branch was deleted with it; empty when the task's commit still waits
	// on its branch (it is kept).
	Branch string `json:"branch,omitempty"`
	// Retention is the policy's retention.worktrees that expired.
	Retention string `json:"retention"`
}

// SchedulerAction is what the scheduler decided for a task (package
// scheduler names it Action and declares its values).
type SchedulerAction string

// SchedulerEventPrefix starts the kind of every scheduler audit event.
const SchedulerEventPrefix = "scheduler."

// Scheduler audit event kinds, one per action.
const (
	EventSchedulerDispatch = SchedulerEventPrefix + "dispatch"
	EventSchedulerHold     = SchedulerEventPrefix + "hold"
	EventSchedulerSkip     = SchedulerEventPrefix + "skip"
	EventSchedulerTakeover = SchedulerEventPrefix + "takeover"
)

// EventKind is the audit event kind of a decision: scheduler.dispatch,
// scheduler.hold, scheduler.skip or scheduler.takeover.
func (a SchedulerAction) EventKind() string { return SchedulerEventPrefix + string(a) }

// SchedulerClaim is a concurrency slot a task takes while it runs.
type SchedulerClaim struct {
	Key   string `json:"key"`
	Limit int    `json:"limit"`
	Rule  string `json:"rule"`
}

// SchedulerDecision is one scheduling decision, the data of scheduler.hold,
// scheduler.skip and scheduler.takeover (package scheduler names it Decision).
type SchedulerDecision struct {
	Task      string          `json:"task"`
	Action    SchedulerAction `json:"action"`
	RuleID    string          `json:"rule_id"`
	RulesHash string          `json:"rules_hash"`
	Reason    string          `json:"reason"`
	// Priority and the rule that set it ("default" when none did).
	Priority     int    `json:"priority"`
	PriorityRule string `json:"priority_rule"`
	// Matched lists every rule whose condition held, in rule order.
	Matched []string `json:"matched"`
	// Claims are the concurrency slots the task takes while running.
	Claims []SchedulerClaim `json:"claims,omitempty"`
	// Holders are the running tasks holding the full key of a skip.
	Holders []string `json:"holders,omitempty"`
}

// Same reports whether d and o decide the same thing for the same reason,
// so a loop audits a repeated hold or skip only once.
func (d SchedulerDecision) Same(o SchedulerDecision) bool {
	return d.Task == o.Task && d.Action == o.Action && d.RuleID == o.RuleID && d.RulesHash == o.RulesHash &&
		slices.Equal(d.Holders, o.Holders)
}

// SchedulerDispatchEvent is the data of scheduler.dispatch: the decision
// plus the lease the task runs under and the worker that took it.
type SchedulerDispatchEvent struct {
	SchedulerDecision
	Lease  string `json:"lease"`
	Worker string `json:"worker"`
}

// EventPayloads is the one registry of audit event kinds: every kind any
// writer appends, with the type of its data. It is a function returning a
// fresh map, so nothing can add a kind at run time; a new kind is added
// here, with its struct, or `agentos audit verify` reports its events.
func EventPayloads() map[string]reflect.Type {
	return map[string]reflect.Type{
		EventTaskCreated:        reflect.TypeFor[TaskCreatedEvent](),
		EventTransition:         reflect.TypeFor[TransitionEvent](),
		EventPlanStored:         reflect.TypeFor[PlanStoredEvent](),
		EventMemoryPack:         reflect.TypeFor[MemoryPackEvent](),
		EventStep:               reflect.TypeFor[StepRecord](),
		EventGate:               reflect.TypeFor[GateEvent](),
		EventCommit:             reflect.TypeFor[CommitEvent](),
		EventIntegrated:         reflect.TypeFor[IntegratedEvent](),
		EventReview:             reflect.TypeFor[ReviewEvent](),
		EventRollback:           reflect.TypeFor[RollbackEvent](),
		EventQuestions:          reflect.TypeFor[QuestionsEvent](),
		EventAnswers:            reflect.TypeFor[AnswersEvent](),
		EventCommandRule:        reflect.TypeFor[CommandRuleEvent](),
		EventApproval:           reflect.TypeFor[ApprovalEvent](),
		EventCancelRequested:    reflect.TypeFor[CancelRequestEvent](),
		EventMemoryWrite:        reflect.TypeFor[MemoryWriteEvent](),
		EventLockTakeover:       reflect.TypeFor[LockTakeoverEvent](),
		EventLockForceRelease:   reflect.TypeFor[LockForceReleaseEvent](),
		EventLockLost:           reflect.TypeFor[LockLostEvent](),
		EventPlannerCall:        reflect.TypeFor[PlannerCall](),
		EventPlannerRefused:     reflect.TypeFor[PlannerRefusedEvent](),
		EventPlanRefused:        reflect.TypeFor[PlanRefusedEvent](),
		EventContractorRun:      reflect.TypeFor[ContractorRunEvent](),
		EventContractorDecision: reflect.TypeFor[ContractorDecisionEvent](),
		EventHookDecision:       reflect.TypeFor[HookDecisionEvent](),
		EventWorktreeRemoved:    reflect.TypeFor[WorktreeRemovedEvent](),
		EventSchedulerDispatch:  reflect.TypeFor[SchedulerDispatchEvent](),
		EventSchedulerHold:      reflect.TypeFor[SchedulerDecision](),
		EventSchedulerSkip:      reflect.TypeFor[SchedulerDecision](),
		EventSchedulerTakeover:  reflect.TypeFor[SchedulerDecision](),
		EventTokenCreated:       reflect.TypeFor[TokenEvent](),
		EventTokenRevoked:       reflect.TypeFor[TokenEvent](),
	}
}

// EventKinds lists every registered kind, sorted.
func EventKinds() []string {
	return slices.Sorted(maps.Keys(EventPayloads()))
}

// DecodeEvent decodes e's data strictly into its kind's payload type and
// returns a pointer to it: an unknown kind, a field the type does not have,
// a value of the wrong type or trailing data is an EINVALID error naming the
// event's seq and kind.
func DecodeEvent(e Event) (any, error) { return decodeEvent(EventPayloads(), e) }

func decodeEvent(payloads map[string]reflect.Type, e Event) (any, error) {
	t, ok := payloads[e.Kind]
	if !ok {
		return nil, Errorf(EINVALID, "audit event %d has unknown kind %q: no payload type is registered for it", e.Seq, e.Kind)
	}
	if b := bytes.TrimSpace(e.Data); len(b) == 0 || b[0] != '{' {
		return nil, Errorf(EINVALID, "audit event %d (%s): data is not a JSON object", e.Seq, e.Kind)
	}
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, Errorf(EINVALID, "audit event %d (%s): data does not decode as %s: %v", e.Seq, e.Kind, t.Name(), err)
	}
	if dec.More() {
		return nil, Errorf(EINVALID, "audit event %d (%s): data has more than one JSON value", e.Seq, e.Kind)
	}
	return v.Interface(), nil
}

// VerifyPayloads decodes every event of the log strictly into its kind's
// payload type (DecodeEvent), a page at a time so a long log is not held in
// memory. It returns the number of events checked and one error per event
// that does not decode (unknown kind, unknown field, wrong type), in order;
// err is a failure to read the log.
func VerifyPayloads(ctx context.Context, s AuditStore) (n int64, bad []error, err error) {
	return VerifyPayloadsFunc(ctx, s, nil)
}

// VerifyPayloadsFunc is VerifyPayloads that also hands each event and its
// decoded payload (nil when it does not decode) to fn, in order: the
// checks that follow the chain (package auditanchor) ride on this one pass
// instead of reading the log again.
func VerifyPayloadsFunc(ctx context.Context, s AuditStore, fn func(Event, any)) (n int64, bad []error, err error) {
	const page = 1000
	payloads := EventPayloads()
	for from := int64(0); ; {
		evs, err := s.Events(ctx, EventFilter{FromSeq: from, Limit: page})
		if err != nil {
			return n, bad, err
		}
		for _, e := range evs {
			n++
			v, err := decodeEvent(payloads, e)
			if err != nil {
				bad = append(bad, err)
			}
			if fn != nil {
				fn(e, v)
			}
		}
		if len(evs) < page {
			return n, bad, nil
		}
		from = evs[len(evs)-1].Seq + 1
	}
}
