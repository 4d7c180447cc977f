package agentos

import (
	"fmt"
	"time"
)

// State is a task's state. There is exactly one vocabulary and one transition
// table (transitions); the store's Transition method is the only writer.
type State string

const (
	StateCreated          State = "created"
	StatePlanning         State = "planning"
	StatePlanned          State = "planned"
	StateBlocked          State = "blocked"
	StateAwaitingApproval State = "awaiting_approval"
	StateQueued           State = "queued"
	StateApplying         State = "applying"
	StateVerifying        State = "verifying"
	StateCommitted        State = "committed"
	StateFailed           State = "failed"
	StateRejected         State = "rejected"
	StateCancelled        State = "cancelled"
	StateRolledBack       State = "rolled_back"
)

// States lists every state in pipeline order.
var States = []State{
	StateCreated, StatePlanning, StatePlanned, StateBlocked, StateAwaitingApproval,
	StateQueued, StateApplying, StateVerifying, StateCommitted,
	StateFailed, StateRejected, StateCancelled, StateRolledBack,
}

// transitions is the one transition table. A pair that is not here is an
// error, never silently applied.
var transitions = map[State][]State{
	StateCreated:          {StatePlanning, StateCancelled, StateFailed},
	StatePlanning:         {StatePlanned, StateBlocked, StateFailed, StateCancelled},
	StatePlanned:          {StateAwaitingApproval, StateQueued, StatePlanning, StateFailed, StateCancelled},
	StateBlocked:          {StatePlanning, StateFailed, StateCancelled},
	StateAwaitingApproval: {StateQueued, StateRejected, StatePlanning, StateCancelled, StateFailed},
	StateQueued:           {StateApplying, StatePlanning, StateAwaitingApproval, StateCancelled, StateFailed},
	// applying -> queued: a crashed worker's task is taken over.
	StateApplying:  {StateVerifying, StateFailed, StateQueued, StateCancelled},
	StateVerifying: {StateCommitted, StateFailed, StatePlanning, StateBlocked, StateQueued, StateCancelled},
	StateCommitted: {StateRolledBack},
}

// ValidState reports whether s is a known state.
func ValidState(s State) bool {
	for _, x := range States {
		if x == s {
			return true
		}
	}
	return false
}

// CanTransition reports whether from -> to is in the transition table.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckTransition returns a conflict error when from -> to is not allowed.
func CheckTransition(from, to State) error {
	if !CanTransition(from, to) {
		return Errorf(ECONFLICT, "illegal task transition %s -> %s", from, to)
	}
	return nil
}

// Terminal reports whether no further transition is possible except the
// rollback of a committed task.
func (s State) Terminal() bool {
	switch s {
	case StateCommitted, StateFailed, StateRejected, StateCancelled, StateRolledBack:
		return true
	}
	return false
}

// Task is one unit of governed work: a request, its current plan and where it
// is in the state machine.
type Task struct {
	ID         string    `json:"id"`
	State      State     `json:"state"`
	Mode       Mode      `json:"mode"`
	Goal       string    `json:"goal"`
	Request    string    `json:"request,omitempty"`
	Planner    string    `json:"planner"`
	Submitter  Actor     `json:"submitter"`
	Labels     []string  `json:"labels"`
	Target     string    `json:"target"` // branch the commit integrates into
	IntentID   string    `json:"intent_id,omitempty"`
	PlanID     string    `json:"plan_id,omitempty"`
	PlanHash   string    `json:"plan_hash,omitempty"`
	RunID      string    `json:"run_id,omitempty"` // the latest run
	Commit     string    `json:"commit,omitempty"` // the integrated commit
	Reason     string    `json:"reason,omitempty"` // why it failed, is blocked or waits
	AutoApply  bool      `json:"auto_apply"`       // continue to apply once planned (run)
	AutoQueue  bool      `json:"auto_queue"`       // continue to the queue once planned (submit)
	Source     string    `json:"-"`                // the plan file as submitted
	SourcePath string    `json:"source_path,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	// SourceBlob is set instead of Source, as a store reads a task back,
	// when the plan file is StreamMin bytes or more: the store keeps it
	// once as a blob (TaskStore.Blob reads it), so reading a task does not
	// carry the whole file.
	SourceBlob string `json:"-"`
}

// Run is one attempt to apply a task's plan.
type Run struct {
	ID         string    `json:"id"`
	Task       string    `json:"task"`
	PlanHash   string    `json:"plan_hash"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Outcome    State     `json:"outcome,omitempty"`
	Worktree   string    `json:"worktree,omitempty"`
	Commit     string    `json:"commit,omitempty"`
	Unconfined bool      `json:"unconfined,omitempty"`
}

// TaskFilter selects tasks for listing.
type TaskFilter struct {
	State State
	Limit int
	// Ended keeps only tasks in a terminal state.
	Ended bool
	// UpdatedSince and UpdatedBefore keep only the tasks last changed in
	// [UpdatedSince, UpdatedBefore); a zero bound is no bound. Housekeeping
	// asks for a window of ended tasks this way, never for every task.
	UpdatedSince  time.Time
	UpdatedBefore time.Time
	// After continues a list (newest first) after the task created at
	// After.CreatedAt with ID After.ID: the cursor of a paginated list.
	After *TaskCursor
}

// TaskCursor is where a page of a task list ended: its last task's
// creation time and ID (the list's order).
type TaskCursor struct {
	CreatedAt time.Time
	ID        string
}

// Match reports whether t passes every condition of f but Limit: the one
// definition the stores follow (a SQL store may select a superset in SQL
// and finish with Match).
func (f TaskFilter) Match(t *Task) bool {
	switch {
	case f.State != "" && t.State != f.State:
		return false
	case f.Ended && !t.State.Terminal():
		return false
	case !f.UpdatedSince.IsZero() && t.UpdatedAt.Before(f.UpdatedSince):
		return false
	case !f.UpdatedBefore.IsZero() && !t.UpdatedAt.Before(f.UpdatedBefore):
		return false
	case f.After != nil && (t.CreatedAt.After(f.After.CreatedAt) || (t.CreatedAt.Equal(f.After.CreatedAt) && t.ID >= f.After.ID)):
		return false
	}
	return true
}

// TerminalStates are the states of State.Terminal, for a store's query.
func TerminalStates() []State {
	return []State{StateCommitted, StateFailed, StateRejected, StateCancelled, StateRolledBack}
}

// TimeBoundSeconds renders t for a store that keeps times as TimeFormat
// text, whose strings compare in time order at least to the second (those
// written trimmed by older binaries and not rewritten by a migration only
// that far). A stored time s is before t's second exactly
// when s < TimeBoundSeconds(t) as strings; s is at or after it exactly when
// s >= TimeBoundSeconds(t).
func TimeBoundSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// StoreTime is t as the stores write it (StoreTimeFormat, UTC).
func StoreTime(t time.Time) string { return t.UTC().Format(StoreTimeFormat) }

// ShortID renders an id for humans; ids are already short.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (t *Task) String() string { return fmt.Sprintf("%s (%s)", t.ID, t.State) }
