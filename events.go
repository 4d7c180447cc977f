package agentos

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

// TransitionEvent is the data of task.transition. Detail carries what the
// transition's caller adds (the plan approved, the conflicting paths, …).
type TransitionEvent struct {
	From   State  `json:"from"`
	To     State  `json:"to"`
	Reason string `json:"reason,omitempty"`
	// Optional details, each set by the transitions that have it.
	Phase        string   `json:"phase,omitempty"`         // where planning or admission failed
	Gate         string   `json:"gate,omitempty"`          // the gates' effect
	Approved     string   `json:"approved,omitempty"`      // the plan hash an approval completed
	AnswerPack   string   `json:"answer_pack,omitempty"`   // the AnswerPack that resumed the task
	QuestionPack string   `json:"question_pack,omitempty"` // the QuestionPack that blocked it
	Conflict     []string `json:"conflict,omitempty"`      // paths of a rebase conflict
	Commit       string   `json:"commit,omitempty"`        // the commit a task landed
	Revert       string   `json:"revert,omitempty"`        // the commit that rolled it back
	Run          string   `json:"run,omitempty"`           // the run that ended
	Expired      bool     `json:"expired,omitempty"`       // cancelled past blocked_expires_after
	Requirements any      `json:"requirements,omitempty"`  // approval requirements (policy)
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
}
