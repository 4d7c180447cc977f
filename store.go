package agentos

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Store is everything the pipeline keeps: tasks and their state machine,
// plans and packs, runs and their records, commits, the hash-chained audit
// log, approvals and leases. It is declared here, where the pipeline
// consumes it, and implemented by the store adapters (package sqlite, the
// embedded default; package postgres, for many workers on many machines).
// All SQL lives in those adapters; both pass one conformance suite
// (package storetest).
//
// Every method that changes state appends its audit event(s) in the same
// transaction, so a change and its record are never separated.
type Store interface {
	TaskStore
	RunStore
	AuditStore
	ApprovalStore
	LeaseStore
	UsageStore
	Close() error
}

// StoreIntegrity is what a persistent store offers to prove it is whole
// before it is trusted with a run (both adapters implement it).
type StoreIntegrity interface {
	// Identity is the random id the store was created with by
	// `agentos init`; a repository records which store it uses.
	Identity(ctx context.Context) (string, error)
	// QuickCheck checks the store's own structure (SQLite: PRAGMA
	// quick_check); ECONFLICT names the damage and how to restore.
	QuickCheck(ctx context.Context) error
}

// TaskStore keeps tasks, intents, plans and MemoryPacks.
type TaskStore interface {
	CreateTask(ctx context.Context, t *Task) error
	// Task finds a task by id or unique id prefix (ENOTFOUND, EINVALID when
	// the prefix is ambiguous).
	Task(ctx context.Context, id string) (*Task, error)
	Tasks(ctx context.Context, f TaskFilter) ([]*Task, error)
	// Transition is the only writer of a task's state: a compare-and-swap
	// from `from` to `to`, checked against the one transition table, with
	// its audit event (and extra events) appended atomically. The event is
	// a TransitionEvent: the adapter fills From, To and Reason, the caller
	// gives the detail.
	Transition(ctx context.Context, id string, from, to State, actor Actor, upd TaskUpdate, detail TransitionDetail, extra ...EventInput) (*Task, error)
	SavePlan(ctx context.Context, p *Plan, actor Actor) error
	// Plan returns the plan and its task id.
	Plan(ctx context.Context, id string) (*Plan, string, error)
	// PlanWithoutBodies is Plan with every step's Content and Diff left
	// empty, and no blob read: for what needs a plan's steps, paths and
	// references but not its bodies (the scheduler, a ReviewPack, a
	// task's view). The hash returned is the stored one; the plan itself
	// no longer hashes to it.
	PlanWithoutBodies(ctx context.Context, id string) (*Plan, string, error)
	// PlansOf returns [id, hash] of every plan of a task, oldest first.
	PlansOf(ctx context.Context, task string) ([][2]string, error)
	SaveIntent(ctx context.Context, in *Intent) error
	Intent(ctx context.Context, id string) (*Intent, error)
	SaveMemoryPack(ctx context.Context, m *MemoryPack, actor Actor) error
	// Blob reads a large body the store keeps once, by the hash a plan,
	// a task's SourceBlob or a patch's DiffBlob names (ECONFLICT when it is
	// missing or its bytes do not hash to it).
	Blob(ctx context.Context, hash string) (string, error)
	MemoryPackByHash(ctx context.Context, task, hash string) (*MemoryPack, error)
	LatestMemoryPack(ctx context.Context, task string) (*MemoryPack, error)
}

// RunStore keeps runs and what they produced.
type RunStore interface {
	CreateRun(ctx context.Context, r *Run) error
	FinishRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id string) (*Run, error)
	RunsOf(ctx context.Context, task string) ([]string, error)
	AddRecord(ctx context.Context, task string, rec StepRecord, actor Actor) error
	Records(ctx context.Context, run string) ([]StepRecord, error)
	AddPatch(ctx context.Context, run string, p PatchRecord) error
	Patches(ctx context.Context, run string) ([]PatchRecord, error)
	// AddCommit records a commit and audits it; a commit is recorded once
	// (a second record of the same sha is an error, never a replacement).
	AddCommit(ctx context.Context, c CommitRow, actor Actor) error
	Commit(ctx context.Context, sha string) (*CommitRow, error)
	CommitsOf(ctx context.Context, task string) ([]CommitRow, error)
	// Commits lists every recorded commit in the order they were recorded.
	Commits(ctx context.Context) ([]CommitRow, error)
	SaveGateDecisions(ctx context.Context, task, planHash string, ds []GateDecision, actor Actor) error
	GateDecisions(ctx context.Context, task, planHash string) ([]GateDecision, error)
	SaveReview(ctx context.Context, rp *ReviewPack, md string) error
	Review(ctx context.Context, task string) (*ReviewPack, string, error)
	SaveQuestionPack(ctx context.Context, q *QuestionPack) error
	LatestQuestionPack(ctx context.Context, task string) (*QuestionPack, error)
	SaveAnswerPack(ctx context.Context, task string, a *AnswerPack) error
	AnswerPacks(ctx context.Context, task string) ([]AnswerPack, error)
}

// AuditStore is the append-only, hash-chained audit log.
type AuditStore interface {
	// Append chains events after the head in one transaction; concurrent
	// appends from any number of processes stay one linear chain.
	Append(ctx context.Context, evs ...EventInput) ([]Event, error)
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	ChainHead(ctx context.Context) (int64, string, error)
	// VerifyChain recomputes every hash; it returns the number of events
	// checked, or a *ChainError naming the first bad one.
	VerifyChain(ctx context.Context) (int64, error)
}

// ApprovalStore keeps approvals and rejections of plans. Rows are never
// deleted: clearing keeps them as history.
type ApprovalStore interface {
	// RecordApproval runs decide over the task's active (uncleared)
	// approvals inside one transaction; when decide returns true, a is
	// inserted and evs appended to the audit chain in that same
	// transaction. decide's error aborts it.
	RecordApproval(ctx context.Context, a Approval, decide func(active []Approval) (bool, error), evs ...EventInput) error
	// ActiveApprovals returns the task's approvals that still count, oldest first.
	ActiveApprovals(ctx context.Context, task string) ([]Approval, error)
	// Approvals returns every approval and rejection of task, cleared ones included.
	Approvals(ctx context.Context, task string) ([]Approval, error)
	// ClearApprovals turns every counting approval of task whose plan hash
	// is not keep into history and returns how many it cleared.
	ClearApprovals(ctx context.Context, task, keep, why string) (int, error)
}

// ApprovalKind is approve or reject.
type ApprovalKind string

const (
	KindApprove ApprovalKind = "approve"
	KindReject  ApprovalKind = "reject"
)

// ApprovalBinding is what an approval is bound to beyond the plan hash: the
// world the approver saw.
type ApprovalBinding struct {
	Base       string `json:"base_commit"`
	PolicyHash string `json:"policy_hash"`
	MemoryHash string `json:"memory_hash"`
}

// Approval is one recorded approval or rejection.
type Approval struct {
	ID        int64           `json:"id"`
	Task      string          `json:"task"`
	Kind      ApprovalKind    `json:"kind"`
	PlanID    string          `json:"plan_id"`
	PlanHash  string          `json:"plan_hash"`
	Binding   ApprovalBinding `json:"binding"`
	Actor     Actor           `json:"actor"`
	Comment   string          `json:"comment,omitempty"`
	Rules     []string        `json:"rules,omitempty"` // the requirements it counted towards
	Time      time.Time       `json:"time"`
	ClearedAt time.Time       `json:"cleared_at,omitzero"`
	Cleared   string          `json:"cleared,omitempty"` // why it no longer counts
}

// LeaseStore keeps leased locks (red line 9). A lease is a set of keys
// acquired together, all or nothing. Each lease carries a fencing token
// that only grows, so a holder that lost its lease can be refused by token.
type LeaseStore interface {
	// AcquireLease finds, in one transaction, every lease holding a key
	// that LockKeysConflict with one of l.Keys and passes them to decide,
	// which returns the (expired) leases to take over or an error that
	// aborts. The taken-over leases are removed, l is stored with a fresh
	// fencing token, and the stored lease is returned.
	AcquireLease(ctx context.Context, l Lease, decide func(holders []Lease) ([]Lease, error)) (Lease, error)
	// RenewLease moves the lease's heartbeat and expiry; false when the
	// lease is gone (expired and taken over, or force-released).
	RenewLease(ctx context.Context, id string, heartbeat, expires time.Time) (bool, error)
	// ReleaseLease removes the lease; false when it was already gone.
	ReleaseLease(ctx context.Context, id string) (bool, error)
	// ForceReleaseLease removes the lease whoever holds it and appends ev in
	// the same transaction; ENOTFOUND when there is no such lease.
	ForceReleaseLease(ctx context.Context, id string, ev func(Lease) EventInput) (*Lease, error)
	// Lease reads one lease (nil when it holds no key).
	Lease(ctx context.Context, id string, now time.Time) (*Lease, error)
	// LeaseHolding returns the lease holding exactly key, or nil.
	LeaseHolding(ctx context.Context, key string, now time.Time) (*Lease, error)
	// Leases lists every lease, oldest first; expired only when onlyExpired.
	Leases(ctx context.Context, now time.Time, onlyExpired bool) ([]Lease, error)
}

// Lease is one lock as stored: a set of keys held together.
type Lease struct {
	ID    string   `json:"id"`
	Owner string   `json:"owner"`
	Keys  []string `json:"keys"`
	// Token is the fencing token: larger for every new lease in a store.
	Token     int64     `json:"token"`
	Acquired  time.Time `json:"acquired"`
	Heartbeat time.Time `json:"heartbeat"`
	Expires   time.Time `json:"expires"`
	// Expired is true when the lease was past its expiry when it was read.
	Expired bool `json:"expired"`
}

// LeaseRow is one stored key of a lease, as a store adapter reads it back
// (times in Unix nanoseconds, as they are stored).
type LeaseRow struct {
	Key, Lease, Owner            string
	Token                        int64
	Acquired, Heartbeat, Expires int64
}

// LeaseGrouper turns a lease table's rows (one per key) into leases, in the
// order each lease first appears, marking those past their expiry at Now:
// every adapter reads leases back the same way.
type LeaseGrouper struct {
	Now   time.Time
	out   []Lease
	index map[string]int
}

// Add takes one row.
func (g *LeaseGrouper) Add(r LeaseRow) {
	if g.index == nil {
		g.index = map[string]int{}
	}
	i, ok := g.index[r.Lease]
	if !ok {
		i = len(g.out)
		g.index[r.Lease] = i
		exp := time.Unix(0, r.Expires).UTC()
		g.out = append(g.out, Lease{
			ID: r.Lease, Owner: r.Owner, Token: r.Token,
			Acquired: time.Unix(0, r.Acquired).UTC(), Heartbeat: time.Unix(0, r.Heartbeat).UTC(), Expires: exp,
			Expired: !g.Now.Before(exp),
		})
	}
	g.out[i].Keys = append(g.out[i].Keys, r.Key)
}

// Leases returns the leases, each with its keys sorted.
func (g *LeaseGrouper) Leases() []Lease {
	for i := range g.out {
		slices.Sort(g.out[i].Keys)
	}
	return g.out
}

// Lock key kinds: a task lock, a file lock on one target branch, and the
// lock on integrating into a target branch.
const (
	LockKindTask      = "task:"
	LockKindFile      = "file:"
	LockKindIntegrate = "integrate:"
)

// LockFilePath returns the repository path of a file key.
func LockFilePath(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, LockKindFile)
	if !ok {
		return "", false
	}
	_, p, ok := strings.Cut(rest, ":")
	return p, ok
}

// LockKeysConflict reports whether two keys exclude each other: the same
// key, or two file keys on one target where one path is a directory
// containing the other (a lock on a directory covers everything under it).
func LockKeysConflict(a, b string) bool {
	if a == b {
		return true
	}
	if !strings.HasPrefix(a, LockKindFile) || !strings.HasPrefix(b, LockKindFile) {
		return false
	}
	return strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// LockParentKeys returns the keys of the directories above a file key, on
// the same target (nearest first); none for other keys.
func LockParentKeys(key string) []string {
	p, ok := LockFilePath(key)
	if !ok {
		return nil
	}
	prefix := strings.TrimSuffix(key, p)
	var out []string
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		out = append(out, prefix+d)
	}
	return out
}

// TaskUpdate holds fields set together with a transition.
type TaskUpdate struct {
	Reason    *string
	PlanID    *string
	PlanHash  *string
	IntentID  *string
	RunID     *string
	Commit    *string
	Goal      *string
	AutoApply *bool
}

// Apply sets on t the fields u names: every store applies an update the same
// way.
func (u TaskUpdate) Apply(t *Task) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&t.Reason, u.Reason)
	set(&t.PlanID, u.PlanID)
	set(&t.PlanHash, u.PlanHash)
	set(&t.IntentID, u.IntentID)
	set(&t.RunID, u.RunID)
	set(&t.Commit, u.Commit)
	set(&t.Goal, u.Goal)
	if u.AutoApply != nil {
		t.AutoApply = *u.AutoApply
	}
}

// Str returns a pointer to s, for TaskUpdate fields.
func Str(s string) *string { return &s }

// EventInput is an audit event before it is sequenced and chained.
type EventInput struct {
	Task  string
	Run   string
	Actor Actor
	Kind  string
	Data  any
}

// EventFilter selects audit events.
type EventFilter struct {
	Task    string
	Kind    string
	FromSeq int64
	Limit   int
}

// CommitRow is a commit AgentOS made, as recorded.
type CommitRow struct {
	SHA, Task, Run, Branch, PlanHash, DiffHash, IntentID, Kind string
	Trailers                                                   map[string]string
}

// ChainError is a broken audit chain: the first event whose hash or link
// does not check out.
type ChainError struct {
	Seq    int64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at event %d: %s", e.Seq, e.Reason)
}

// ChainCheck verifies a chain streamed in sequence order, so every store
// adapter checks it the same way: feed each event to Next, in order.
type ChainCheck struct {
	prev string
	n    int64
}

// Next checks e against the events before it. The error is ECONFLICT
// wrapping a *ChainError at the first deleted, reordered or edited event.
func (c *ChainCheck) Next(e Event) error {
	if c.prev == "" {
		c.prev = GenesisHash
	}
	want := c.n + 1
	var ce *ChainError
	switch {
	case e.Seq != want:
		ce = &ChainError{Seq: want, Reason: fmt.Sprintf("event %d is missing (next row is %d): a row was deleted", want, e.Seq)}
	case e.PrevHash != c.prev:
		ce = &ChainError{Seq: e.Seq, Reason: "prev_hash does not match the previous event: rows were deleted, inserted or reordered"}
	case e.ComputeHash() != e.Hash:
		ce = &ChainError{Seq: e.Seq, Reason: "its content does not match its hash: the row was edited"}
	}
	if ce != nil {
		return WrapError(ECONFLICT, ce, "%s", ce.Error())
	}
	c.prev = e.Hash
	c.n++
	return nil
}

// ChainCheckFrom checks a chain from an event already verified (seq, with
// hash) on: feed the events after it. Checked counts from seq.
func ChainCheckFrom(seq int64, hash string) ChainCheck {
	if seq <= 0 {
		return ChainCheck{}
	}
	return ChainCheck{n: seq, prev: hash}
}

// Checked returns how many events were checked.
func (c *ChainCheck) Checked() int64 { return c.n }

// TimeFormat is the one encoding of times in stores and documents.
const TimeFormat = time.RFC3339Nano

// StoreTimeFormat is how a store writes a time (UTC) as text: TimeFormat
// with the nanoseconds at a fixed width, so that stored times sort as text
// in time order (trimmed, "…:07.1Z" sorts after "…:07.15Z"). TimeFormat
// parses it.
const StoreTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
