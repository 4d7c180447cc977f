// Package memstore is an in-memory agentos.Store for fast tests of the
// pipeline: every table a map or slice under one mutex, with the semantics
// of the SQL adapters (package sqlite, package postgres) and checked by the
// same conformance suite (package storetest).
//
// One critical section stands in for a database transaction: a write
// prepares everything that can fail (encoding, constraints, the caller's
// decide) before it changes anything, so a failed call leaves no trace, as
// a rolled-back transaction would. Stored artifacts are kept as canonical
// JSON, like the SQL adapters keep them, so what is read back is a copy
// that decodes the way a database read does.
//
// A DB is the database; Open hands out handles on it, as several processes
// would have. It has no memory index (memory.Index): the memory's full-text
// search with stemming is the adapters' own; pipeline tests give the
// coordinator a MemoryService of their own.
package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// DB is one in-memory database. Its zero value is not usable: call New.
type DB struct {
	mu sync.Mutex

	seq int64 // insertion counter: the rowid of every table

	tasks      map[string]*agentos.Task
	taskSeq    map[string]int64
	intents    map[string]body
	plans      map[string]*planRow
	mpacks     map[string]*packRow // by pack id
	runs       map[string]*runRow
	records    map[string][][]byte // by run
	patches    map[string][]agentos.PatchRecord
	blobs      map[string]string // large bodies, by hash, as the adapters keep them
	commits    map[string]*commitRow
	gates      map[[2]string][][]byte // by (task, plan hash)
	reviews    map[[2]string]*reviewRow
	qpacks     map[string]*qpackRow // by id
	apacks     map[string]*apackRow // by hash
	audit      []agentos.Event
	approvals  []agentos.Approval
	approvalID int64
	locks      map[string]string // key -> lease id
	leases     map[string]*agentos.Lease
	leaseToken int64
	webhooks   map[string]agentos.WebhookCursor // by endpoint (webhook.go)
	usage      []agentos.ModelUsage
}

type body struct {
	task string
	hash string
	json []byte
}

type planRow struct {
	body
	id      string
	created time.Time
	seq     int64
}

type packRow struct {
	body
	seq int64
}

type runRow struct {
	run agentos.Run
	seq int64
}

type commitRow struct {
	c   agentos.CommitRow
	seq int64
}

type reviewRow struct {
	json, md []byte
	created  time.Time
	seq      int64
}

type qpackRow struct {
	body
	created time.Time
	seq     int64
}

type apackRow struct {
	body
	created time.Time
	seq     int64
}

// New returns an empty database.
func New() *DB {
	return &DB{
		tasks:   map[string]*agentos.Task{},
		taskSeq: map[string]int64{},
		intents: map[string]body{},
		plans:   map[string]*planRow{},
		mpacks:  map[string]*packRow{},
		runs:    map[string]*runRow{},
		records: map[string][][]byte{},
		patches: map[string][]agentos.PatchRecord{},
		blobs:   map[string]string{},
		commits: map[string]*commitRow{},
		gates:   map[[2]string][][]byte{},
		reviews: map[[2]string]*reviewRow{},
		qpacks:  map[string]*qpackRow{},
		apacks:  map[string]*apackRow{},
		locks:   map[string]string{},
		leases:  map[string]*agentos.Lease{},
	}
}

// Store is one handle on a DB; it implements agentos.Store. Like a SQL
// handle it has its own clock and redaction hook; closing it leaves the
// database to the other handles.
type Store struct {
	db *DB
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Redact, when set, is applied to every audit event's data before it is
	// chained, as in the SQL adapters.
	Redact func([]byte) []byte

	closed atomic.Bool
}

var _ agentos.Store = (*Store)(nil)

// Open returns a new handle on d.
func (d *DB) Open() *Store { return &Store{db: d, Now: time.Now} }

// Open returns a handle on a new, empty database.
func Open() *Store { return New().Open() }

// DB returns the database the handle is on, to open more handles on it.
func (s *Store) DB() *DB { return s.db }

// Close closes the handle: its later calls fail. The database stays.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// begin is the start of every call: the handle must be open and the
// context live. It locks the database; the caller unlocks it.
func (s *Store) begin(ctx context.Context) (*DB, error) {
	if s.closed.Load() {
		return nil, agentos.Errorf(agentos.EINTERNAL, "memstore: the store handle is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.db.mu.Lock()
	return s.db, nil
}

func (s *Store) now() time.Time { return s.Now().UTC() }

func (d *DB) nextSeq() int64 { d.seq++; return d.seq }

// TamperEvent replaces the stored data of audit event seq without
// rehashing, as someone editing the database behind AgentOS's back would;
// false when there is no such event.
func (d *DB) TamperEvent(seq int64, data []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.audit {
		if d.audit[i].Seq == seq {
			d.audit[i].Data = slices.Clone(data)
			return true
		}
	}
	return false
}

// TamperPlan replaces the stored body of plan id, keeping the hash it was
// stored under: a plan edited in the database; false when there is none.
func (d *DB) TamperPlan(id string, edit func(p *agentos.Plan)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	row, ok := d.plans[id]
	return ok && tamperBody(&row.json, edit)
}

// TamperMemoryPack replaces the stored body of MemoryPack id, keeping the
// hash it was stored under; false when there is none.
func (d *DB) TamperMemoryPack(id string, edit func(m *agentos.MemoryPack)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	row, ok := d.mpacks[id]
	return ok && tamperBody(&row.json, edit)
}

// tamperBody decodes a stored body, edits it and stores it re-encoded.
func tamperBody[T any](body *[]byte, edit func(*T)) bool {
	var v T
	if json.Unmarshal(*body, &v) != nil {
		return false
	}
	edit(&v)
	b, err := canonjson.Marshal(&v)
	if err != nil {
		return false
	}
	*body = b
	return true
}

// DeleteMemoryPacks removes every stored MemoryPack of task, as a database
// pruned behind AgentOS's back; it returns how many it removed.
func (d *DB) DeleteMemoryPacks(task string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for id, row := range d.mpacks {
		if row.task == task {
			delete(d.mpacks, id)
			n++
		}
	}
	return n
}

// --- audit ---

// chain encodes and chains evs after the head without storing them: the
// caller appends the result with commitEvents once nothing else can fail.
func (s *Store) chain(d *DB, evs []agentos.EventInput) ([]agentos.Event, error) {
	seq := int64(len(d.audit))
	prev := agentos.GenesisHash
	if seq > 0 {
		prev = d.audit[seq-1].Hash
	}
	now := s.now()
	out := make([]agentos.Event, 0, len(evs))
	for _, in := range evs {
		data, err := canonjson.Marshal(in.Data)
		if err != nil {
			return nil, fmt.Errorf("audit data: %w", err)
		}
		if s.Redact != nil {
			data = s.Redact(data)
		}
		seq++
		e := agentos.Event{Seq: seq, Time: now, Task: in.Task, Run: in.Run, Actor: in.Actor, Kind: in.Kind, Data: data, PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out, nil
}

func (d *DB) commitEvents(evs []agentos.Event) {
	for _, e := range evs {
		e.Data = slices.Clone(e.Data)
		d.audit = append(d.audit, e)
	}
}

// Append implements agentos.AuditStore.
func (s *Store) Append(ctx context.Context, evs ...agentos.EventInput) ([]agentos.Event, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	out, err := s.chain(d, evs)
	if err != nil {
		return nil, err
	}
	d.commitEvents(out)
	return out, nil
}

// Events implements agentos.AuditStore.
func (s *Store) Events(ctx context.Context, f agentos.EventFilter) ([]agentos.Event, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var out []agentos.Event
	for _, e := range d.audit {
		if e.Seq < f.FromSeq || (f.Task != "" && e.Task != f.Task) || (f.Kind != "" && e.Kind != f.Kind) {
			continue
		}
		e.Data = slices.Clone(e.Data)
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// ChainHead implements agentos.AuditStore.
func (s *Store) ChainHead(ctx context.Context) (int64, string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return 0, "", err
	}
	defer d.mu.Unlock()
	if len(d.audit) == 0 {
		return 0, agentos.GenesisHash, nil
	}
	e := d.audit[len(d.audit)-1]
	return e.Seq, e.Hash, nil
}

// VerifyChain implements agentos.AuditStore with agentos.ChainCheck, as
// every adapter does.
func (s *Store) VerifyChain(ctx context.Context) (int64, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer d.mu.Unlock()
	var check agentos.ChainCheck
	for _, e := range d.audit {
		if err := check.Next(e); err != nil {
			return check.Checked(), err
		}
	}
	return check.Checked(), nil
}

// --- tasks ---

func copyTask(t *agentos.Task) *agentos.Task {
	c := *t
	c.Labels = slices.Clone(t.Labels)
	if c.Labels == nil {
		c.Labels = []string{}
	}
	return &c
}

// CreateTask implements agentos.TaskStore.
func (s *Store) CreateTask(ctx context.Context, t *agentos.Task) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.tasks[t.ID]; dup {
		return fmt.Errorf("create task: task %s already exists", t.ID)
	}
	now := s.now()
	t.State = agentos.StateCreated
	t.CreatedAt, t.UpdatedAt = now, now
	if t.Labels == nil {
		t.Labels = []string{}
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewTaskCreatedEvent(t)})
	if err != nil {
		return err
	}
	row := copyTask(t)
	if src, blob := agentos.BlobForStore(t.Source); blob != nil {
		d.blobs[blob.Hash] = blob.Data
		row.Source, row.SourceBlob = src, blob.Hash
	}
	d.tasks[t.ID] = row
	d.taskSeq[t.ID] = d.nextSeq()
	d.commitEvents(evs)
	return nil
}

// task finds a task by id or unique prefix (literal and case-sensitive,
// like both SQL adapters).
func (d *DB) task(id string) (*agentos.Task, error) {
	if t, ok := d.tasks[id]; ok {
		return t, nil
	}
	if id == "" {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no task id given: see `agentos task list`")
	}
	var found *agentos.Task
	for tid, t := range d.tasks {
		if !strings.HasPrefix(tid, id) {
			continue
		}
		if found != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "task id %q is ambiguous: give more characters", id)
		}
		found = t
	}
	if found == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "unknown task %q: see `agentos task list`", id)
	}
	return found, nil
}

// Task implements agentos.TaskStore.
func (s *Store) Task(ctx context.Context, id string) (*agentos.Task, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	t, err := d.task(id)
	if err != nil {
		return nil, err
	}
	return copyTask(t), nil
}

// Tasks implements agentos.TaskStore: newest first.
func (s *Store) Tasks(ctx context.Context, f agentos.TaskFilter) ([]*agentos.Task, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var out []*agentos.Task
	for _, t := range d.tasks {
		if f.Match(t) {
			out = append(out, copyTask(t))
		}
	}
	slices.SortFunc(out, func(a, b *agentos.Task) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Transition implements agentos.TaskStore: the compare-and-swap and its
// audit events in one critical section.
func (s *Store) Transition(ctx context.Context, id string, from, to agentos.State, actor agentos.Actor, upd agentos.TaskUpdate, detail agentos.TransitionDetail, extra ...agentos.EventInput) (*agentos.Task, error) {
	if err := agentos.CheckTransition(from, to); err != nil {
		return nil, err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	cur, err := d.task(id)
	if err != nil {
		return nil, err
	}
	if cur.State != from {
		return nil, agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not %s (another process moved it)", id, cur.State, from)
	}
	t := copyTask(cur)
	upd.Apply(t)
	t.State = to
	t.UpdatedAt = s.now()
	evs, err := s.chain(d, append([]agentos.EventInput{agentos.NewTransitionEvent(t, from, actor, upd.Reason != nil, detail)}, extra...))
	if err != nil {
		return nil, err
	}
	d.tasks[t.ID] = t
	d.commitEvents(evs)
	return copyTask(t), nil
}

// needTask is the foreign key of the tables that reference tasks.
func (d *DB) needTask(what, task string) error {
	if _, ok := d.tasks[task]; !ok {
		return fmt.Errorf("%s: no task %q (foreign key)", what, task)
	}
	return nil
}

// SavePlan implements agentos.TaskStore.
func (s *Store) SavePlan(ctx context.Context, p *agentos.Plan, actor agentos.Actor) error {
	p.Hash = p.ComputeHash()
	b, blobs, err := agentos.PlanForStore(p)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.plans[p.ID]; dup {
		return fmt.Errorf("save plan: plan %s already exists", p.ID)
	}
	if err := d.needTask("save plan", p.Task); err != nil {
		return err
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewPlanStoredEvent(p, actor)})
	if err != nil {
		return err
	}
	for _, bl := range blobs {
		d.blobs[bl.Hash] = bl.Data
	}
	d.plans[p.ID] = &planRow{body: body{p.Task, p.Hash, b}, id: p.ID, created: s.now(), seq: d.nextSeq()}
	d.commitEvents(evs)
	return nil
}

// Plan implements agentos.TaskStore: the body and the hash as stored.
func (s *Store) Plan(ctx context.Context, id string) (*agentos.Plan, string, error) {
	return s.readPlan(ctx, id, func(d *DB, js []byte) (*agentos.Plan, error) { return agentos.PlanFromStore(js, d.blob) })
}

// PlanWithoutBodies implements agentos.TaskStore: Plan without reading a
// blob.
func (s *Store) PlanWithoutBodies(ctx context.Context, id string) (*agentos.Plan, string, error) {
	return s.readPlan(ctx, id, func(_ *DB, js []byte) (*agentos.Plan, error) { return agentos.PlanWithoutBodiesFromStore(js) })
}

// readPlan finds plan id's row and decodes its body with decode: a
// conflict it reports (a missing or changed blob) as it is, anything else
// as a corrupt plan.
func (s *Store) readPlan(ctx context.Context, id string, decode func(*DB, []byte) (*agentos.Plan, error)) (*agentos.Plan, string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, "", err
	}
	defer d.mu.Unlock()
	row, ok := d.plans[id]
	if !ok {
		return nil, "", agentos.Errorf(agentos.ENOTFOUND, "plan %s not found", id)
	}
	p, err := decode(d, row.json)
	if err != nil {
		if agentos.ErrorCode(err) == agentos.ECONFLICT {
			return nil, "", err
		}
		return nil, "", agentos.WrapError(agentos.ECONFLICT, err, "stored plan %s is corrupt: %v", id, err)
	}
	return p, row.hash, nil
}

// PlansOf implements agentos.TaskStore.
func (s *Store) PlansOf(ctx context.Context, task string) ([][2]string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var rows []*planRow
	for _, r := range d.plans {
		if r.task == task {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *planRow) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.seq, b.seq))
	})
	var out [][2]string
	for _, r := range rows {
		out = append(out, [2]string{r.id, r.hash})
	}
	return out, nil
}

// SaveIntent implements agentos.TaskStore: an intent is replaced by id.
func (s *Store) SaveIntent(ctx context.Context, in *agentos.Intent) error {
	in.Hash = in.ComputeHash()
	b, err := canonjson.Marshal(in)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if err := d.needTask("save intent", in.Task); err != nil {
		return err
	}
	d.intents[in.ID] = body{in.Task, in.Hash, b}
	return nil
}

// Intent implements agentos.TaskStore.
func (s *Store) Intent(ctx context.Context, id string) (*agentos.Intent, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	row, ok := d.intents[id]
	if !ok {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "intent %s not found", id)
	}
	var in agentos.Intent
	return &in, json.Unmarshal(row.json, &in)
}

// SaveMemoryPack implements agentos.TaskStore.
func (s *Store) SaveMemoryPack(ctx context.Context, m *agentos.MemoryPack, actor agentos.Actor) error {
	m.Hash = m.ComputeHash()
	b, err := canonjson.Marshal(m)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.mpacks[m.ID]; dup {
		return fmt.Errorf("save MemoryPack: pack %s already exists", m.ID)
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewMemoryPackEvent(m, actor)})
	if err != nil {
		return err
	}
	d.mpacks[m.ID] = &packRow{body: body{m.Task, m.Hash, b}, seq: d.nextSeq()}
	d.commitEvents(evs)
	return nil
}

// newestPack is the newest pack of task that keep accepts.
func (d *DB) newestPack(task string, keep func(*packRow) bool) *packRow {
	var best *packRow
	for _, r := range d.mpacks {
		if r.task == task && keep(r) && (best == nil || r.seq > best.seq) {
			best = r
		}
	}
	return best
}

// MemoryPackByHash implements agentos.TaskStore: the content as stored,
// for admission to re-hash.
func (s *Store) MemoryPackByHash(ctx context.Context, task, hash string) (*agentos.MemoryPack, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	row := d.newestPack(task, func(r *packRow) bool { return r.hash == hash })
	if row == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no MemoryPack %s stored for task %s", hash, task)
	}
	var m agentos.MemoryPack
	if err := json.Unmarshal(row.json, &m); err != nil {
		return nil, agentos.WrapError(agentos.ECONFLICT, err, "stored MemoryPack for task %s is corrupt", task)
	}
	return &m, nil
}

// LatestMemoryPack implements agentos.TaskStore; like the SQL adapters it
// re-checks the pack against the hash it was stored under.
func (s *Store) LatestMemoryPack(ctx context.Context, task string) (*agentos.MemoryPack, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	row := d.newestPack(task, func(*packRow) bool { return true })
	if row == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has no MemoryPack: it is built when the task is planned (agentos plan)", task)
	}
	var m agentos.MemoryPack
	if err := json.Unmarshal(row.json, &m); err != nil {
		return nil, agentos.WrapError(agentos.ECONFLICT, err, "the stored MemoryPack of task %s is not valid JSON: the store was altered; re-plan the task", task)
	}
	if got := m.ComputeHash(); got != row.hash || m.Hash != row.hash {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the MemoryPack of task %s is stored under hash %s but holds %s: the store was altered; re-plan the task", task, row.hash, got)
	}
	return &m, nil
}

// --- runs ---

// CreateRun implements agentos.RunStore.
func (s *Store) CreateRun(ctx context.Context, r *agentos.Run) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.runs[r.ID]; dup {
		return fmt.Errorf("create run: run %s already exists", r.ID)
	}
	if err := d.needTask("create run", r.Task); err != nil {
		return err
	}
	r.StartedAt = s.now()
	// Only these columns are inserted; the rest is FinishRun's.
	d.runs[r.ID] = &runRow{run: agentos.Run{ID: r.ID, Task: r.Task, PlanHash: r.PlanHash, StartedAt: r.StartedAt, Worktree: r.Worktree}, seq: d.nextSeq()}
	return nil
}

// FinishRun implements agentos.RunStore; an unknown run changes nothing,
// like an UPDATE that matches no row.
func (s *Store) FinishRun(ctx context.Context, r *agentos.Run) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	r.EndedAt = s.now()
	if row, ok := d.runs[r.ID]; ok {
		row.run.EndedAt, row.run.Outcome, row.run.Commit, row.run.Unconfined = r.EndedAt, r.Outcome, r.Commit, r.Unconfined
	}
	return nil
}

// Run implements agentos.RunStore.
func (s *Store) Run(ctx context.Context, id string) (*agentos.Run, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	row, ok := d.runs[id]
	if !ok {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "run %s not found", id)
	}
	r := row.run
	return &r, nil
}

// RunsOf implements agentos.RunStore: oldest first.
func (s *Store) RunsOf(ctx context.Context, task string) ([]string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var rows []*runRow
	for _, r := range d.runs {
		if r.run.Task == task {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *runRow) int {
		return cmp.Or(a.run.StartedAt.Compare(b.run.StartedAt), cmp.Compare(a.seq, b.seq))
	})
	var out []string
	for _, r := range rows {
		out = append(out, r.run.ID)
	}
	return out, nil
}

func (d *DB) needRun(what, run string) error {
	if _, ok := d.runs[run]; !ok {
		return fmt.Errorf("%s: no run %q (foreign key)", what, run)
	}
	return nil
}

// AddRecord implements agentos.RunStore: the record and its audit event
// together.
func (s *Store) AddRecord(ctx context.Context, task string, rec agentos.StepRecord, actor agentos.Actor) error {
	b, err := canonjson.Marshal(rec)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if err := d.needRun("add record", rec.Run); err != nil {
		return err
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewStepEvent(task, rec, actor)})
	if err != nil {
		return err
	}
	d.records[rec.Run] = append(d.records[rec.Run], b)
	d.commitEvents(evs)
	return nil
}

// Records implements agentos.RunStore.
func (s *Store) Records(ctx context.Context, run string) ([]agentos.StepRecord, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return decodeAll[agentos.StepRecord](d.records[run])
}

func decodeAll[T any](bodies [][]byte) ([]T, error) {
	var out []T
	for _, b := range bodies {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// AddPatch implements agentos.RunStore.
func (s *Store) AddPatch(ctx context.Context, run string, p agentos.PatchRecord) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if err := d.needRun("add patch", run); err != nil {
		return err
	}
	// Only these columns are stored.
	row := agentos.PatchRecord{Path: p.Path, DiffHash: p.DiffHash, IntentID: p.IntentID, Diff: p.Diff}
	if diff, blob := agentos.BlobForStore(p.Diff); blob != nil {
		d.blobs[blob.Hash] = blob.Data
		row.Diff, row.DiffBlob, row.DiffBytes = diff, blob.Hash, int64(len(p.Diff))
	}
	d.patches[run] = append(d.patches[run], row)
	return nil
}

// Blob implements agentos.TaskStore.
func (s *Store) Blob(ctx context.Context, hash string) (string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return "", err
	}
	defer d.mu.Unlock()
	return d.blob(hash)
}

func (d *DB) blob(hash string) (string, error) {
	data, ok := d.blobs[hash]
	if !ok {
		return "", agentos.Errorf(agentos.ECONFLICT, "stored blob %s is missing: the store was changed outside AgentOS", hash)
	}
	return data, agentos.CheckBlob(hash, data)
}

// Patches implements agentos.RunStore.
func (s *Store) Patches(ctx context.Context, run string) ([]agentos.PatchRecord, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return slices.Clone(d.patches[run]), nil
}

func copyCommit(c agentos.CommitRow) agentos.CommitRow {
	c.Trailers = maps.Clone(c.Trailers)
	return c
}

// AddCommit implements agentos.RunStore: a sha is recorded once.
func (s *Store) AddCommit(ctx context.Context, c agentos.CommitRow, actor agentos.Actor) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.commits[c.SHA]; dup {
		return agentos.Errorf(agentos.ECONFLICT, "commit %s is already recorded", c.SHA)
	}
	if err := d.needTask("add commit", c.Task); err != nil {
		return err
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewCommitEvent(c, actor)})
	if err != nil {
		return err
	}
	d.commits[c.SHA] = &commitRow{c: copyCommit(c), seq: d.nextSeq()}
	d.commitEvents(evs)
	return nil
}

// Commit implements agentos.RunStore.
func (s *Store) Commit(ctx context.Context, sha string) (*agentos.CommitRow, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	row, ok := d.commits[sha]
	if !ok {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "commit %s was not made by AgentOS in this repository", sha)
	}
	c := copyCommit(row.c)
	return &c, nil
}

func (s *Store) commitsWhere(ctx context.Context, keep func(agentos.CommitRow) bool) ([]agentos.CommitRow, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	rows := slices.Collect(maps.Values(d.commits))
	slices.SortFunc(rows, func(a, b *commitRow) int { return cmp.Compare(a.seq, b.seq) })
	var out []agentos.CommitRow
	for _, r := range rows {
		if keep(r.c) {
			out = append(out, copyCommit(r.c))
		}
	}
	return out, nil
}

// CommitsOf implements agentos.RunStore: oldest first.
func (s *Store) CommitsOf(ctx context.Context, task string) ([]agentos.CommitRow, error) {
	return s.commitsWhere(ctx, func(c agentos.CommitRow) bool { return c.Task == task })
}

// Commits implements agentos.RunStore: in the order they were recorded.
func (s *Store) Commits(ctx context.Context) ([]agentos.CommitRow, error) {
	return s.commitsWhere(ctx, func(agentos.CommitRow) bool { return true })
}

// SaveGateDecisions implements agentos.RunStore: it replaces the plan's
// decisions and audits each.
func (s *Store) SaveGateDecisions(ctx context.Context, task, planHash string, ds []agentos.GateDecision, actor agentos.Actor) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	bodies := make([][]byte, 0, len(ds))
	evs := make([]agentos.EventInput, 0, len(ds))
	for _, g := range ds {
		b, err := canonjson.Marshal(g)
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		evs = append(evs, agentos.NewGateEvent(task, planHash, g, actor))
	}
	out, err := s.chain(d, evs)
	if err != nil {
		return err
	}
	d.gates[[2]string{task, planHash}] = bodies
	d.commitEvents(out)
	return nil
}

// GateDecisions implements agentos.RunStore: an empty list when none.
func (s *Store) GateDecisions(ctx context.Context, task, planHash string) ([]agentos.GateDecision, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	out, err := decodeAll[agentos.GateDecision](d.gates[[2]string{task, planHash}])
	if out == nil && err == nil {
		out = []agentos.GateDecision{}
	}
	return out, err
}

// SaveReview implements agentos.RunStore: one ReviewPack per (task, run).
func (s *Store) SaveReview(ctx context.Context, rp *agentos.ReviewPack, md string) error {
	b, err := canonjson.Marshal(rp)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	key := [2]string{rp.Task, rp.Run}
	if _, dup := d.reviews[key]; dup {
		return agentos.Errorf(agentos.ECONFLICT, "run %s of task %s already has a ReviewPack", rp.Run, rp.Task)
	}
	evs, err := s.chain(d, []agentos.EventInput{agentos.NewReviewEvent(rp)})
	if err != nil {
		return err
	}
	d.reviews[key] = &reviewRow{json: b, md: []byte(md), created: s.now(), seq: d.nextSeq()}
	d.commitEvents(evs)
	return nil
}

// Review implements agentos.RunStore: the newest ReviewPack of task.
func (s *Store) Review(ctx context.Context, task string) (*agentos.ReviewPack, string, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, "", err
	}
	defer d.mu.Unlock()
	var best *reviewRow
	for k, r := range d.reviews {
		if k[0] != task {
			continue
		}
		if best == nil || cmp.Or(r.created.Compare(best.created), cmp.Compare(r.seq, best.seq)) > 0 {
			best = r
		}
	}
	if best == nil {
		return nil, "", agentos.Errorf(agentos.ENOTFOUND, "task %s has no ReviewPack yet (it is written when a run ends)", task)
	}
	var rp agentos.ReviewPack
	return &rp, string(best.md), json.Unmarshal(best.json, &rp)
}

// SaveQuestionPack implements agentos.RunStore.
func (s *Store) SaveQuestionPack(ctx context.Context, q *agentos.QuestionPack) error {
	q.Hash = q.ComputeHash()
	b, err := canonjson.Marshal(q)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.qpacks[q.ID]; dup {
		return fmt.Errorf("save QuestionPack: pack %s already exists", q.ID)
	}
	if err := d.needTask("save QuestionPack", q.Task); err != nil {
		return err
	}
	d.qpacks[q.ID] = &qpackRow{body: body{q.Task, q.Hash, b}, created: s.now(), seq: d.nextSeq()}
	return nil
}

// LatestQuestionPack implements agentos.RunStore.
func (s *Store) LatestQuestionPack(ctx context.Context, task string) (*agentos.QuestionPack, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var best *qpackRow
	for _, r := range d.qpacks {
		if r.task == task && (best == nil || cmp.Or(r.created.Compare(best.created), cmp.Compare(r.seq, best.seq)) > 0) {
			best = r
		}
	}
	if best == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has asked no questions", task)
	}
	var q agentos.QuestionPack
	return &q, json.Unmarshal(best.json, &q)
}

// SaveAnswerPack implements agentos.RunStore: an AnswerPack is stored once
// (by its hash).
func (s *Store) SaveAnswerPack(ctx context.Context, task string, a *agentos.AnswerPack) error {
	a.Hash = a.ComputeHash()
	b, err := canonjson.Marshal(a)
	if err != nil {
		return err
	}
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, dup := d.apacks[a.Hash]; dup {
		return fmt.Errorf("save AnswerPack: %s already exists", a.Hash)
	}
	if err := d.needTask("save AnswerPack", task); err != nil {
		return err
	}
	d.apacks[a.Hash] = &apackRow{body: body{task, a.Hash, b}, created: s.now(), seq: d.nextSeq()}
	return nil
}

// AnswerPacks implements agentos.RunStore: oldest first.
func (s *Store) AnswerPacks(ctx context.Context, task string) ([]agentos.AnswerPack, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var rows []*apackRow
	for _, r := range d.apacks {
		if r.task == task {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *apackRow) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.seq, b.seq))
	})
	var bodies [][]byte
	for _, r := range rows {
		bodies = append(bodies, r.json)
	}
	return decodeAll[agentos.AnswerPack](bodies)
}

// --- approvals ---

func copyApproval(a agentos.Approval) agentos.Approval {
	a.Rules = slices.Clone(a.Rules)
	if a.Rules == nil {
		a.Rules = []string{}
	}
	return a
}

func (d *DB) approvalsWhere(keep func(agentos.Approval) bool) []agentos.Approval {
	var out []agentos.Approval
	for _, a := range d.approvals {
		if keep(a) {
			out = append(out, copyApproval(a))
		}
	}
	return out
}

func active(task string) func(agentos.Approval) bool {
	return func(a agentos.Approval) bool { return a.Task == task && a.ClearedAt.IsZero() }
}

// RecordApproval implements agentos.ApprovalStore: decide runs inside the
// critical section, so two approvals never both decide on one stale view.
func (s *Store) RecordApproval(ctx context.Context, a agentos.Approval, decide func(active []agentos.Approval) (bool, error), evs ...agentos.EventInput) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	ok, err := decide(d.approvalsWhere(active(a.Task)))
	if err != nil || !ok {
		return err
	}
	// The SQL adapters' CHECK constraints: only people approve or reject.
	if a.Kind != agentos.KindApprove && a.Kind != agentos.KindReject {
		return fmt.Errorf("record %s: kind must be approve or reject", a.Kind)
	}
	if who, human := strings.CutPrefix(string(a.Actor), "human:"); !human || who == "" {
		return fmt.Errorf("record %s: approver %q is not a person (human:NAME)", a.Kind, a.Actor)
	}
	out, err := s.chain(d, evs)
	if err != nil {
		return err
	}
	d.approvalID++
	a.ID = d.approvalID
	a.Time = s.now()
	a.ClearedAt, a.Cleared = time.Time{}, ""
	d.approvals = append(d.approvals, copyApproval(a))
	d.commitEvents(out)
	return nil
}

// ActiveApprovals implements agentos.ApprovalStore.
func (s *Store) ActiveApprovals(ctx context.Context, task string) ([]agentos.Approval, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return d.approvalsWhere(active(task)), nil
}

// Approvals implements agentos.ApprovalStore.
func (s *Store) Approvals(ctx context.Context, task string) ([]agentos.Approval, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return d.approvalsWhere(func(a agentos.Approval) bool { return a.Task == task }), nil
}

// ClearApprovals implements agentos.ApprovalStore.
func (s *Store) ClearApprovals(ctx context.Context, task, keep, why string) (int, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer d.mu.Unlock()
	now, n := s.now(), 0
	for i := range d.approvals {
		a := &d.approvals[i]
		if a.Task == task && a.ClearedAt.IsZero() && a.PlanHash != keep {
			a.ClearedAt, a.Cleared = now, why
			n++
		}
	}
	return n, nil
}

// --- leases ---

// readLease copies a stored lease with Expired as of now; times read back
// as the SQL adapters' Unix nanoseconds do.
func readLease(l *agentos.Lease, now time.Time) agentos.Lease {
	c := *l
	c.Keys = slices.Sorted(slices.Values(l.Keys))
	c.Acquired = time.Unix(0, l.Acquired.UnixNano()).UTC()
	c.Heartbeat = time.Unix(0, l.Heartbeat.UnixNano()).UTC()
	c.Expires = time.Unix(0, l.Expires.UnixNano()).UTC()
	c.Expired = !now.Before(c.Expires)
	return c
}

// AcquireLease implements agentos.LeaseStore in one critical section.
func (s *Store) AcquireLease(ctx context.Context, l agentos.Lease, decide func(holders []agentos.Lease) ([]agentos.Lease, error)) (agentos.Lease, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return agentos.Lease{}, err
	}
	defer d.mu.Unlock()
	ids := map[string]bool{}
	for held, id := range d.locks {
		if slices.ContainsFunc(l.Keys, func(k string) bool { return agentos.LockKeysConflict(k, held) }) {
			ids[id] = true
		}
	}
	var holders []agentos.Lease
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		holders = append(holders, readLease(d.leases[id], l.Acquired))
	}
	taken, err := decide(holders)
	if err != nil {
		return agentos.Lease{}, err
	}
	gone := map[string]bool{}
	for _, t := range taken {
		gone[t.ID] = true
	}
	// The SQL adapters' primary key on the lock key: a key still held
	// (decide did not take its holder over) or given twice is refused.
	if _, used := d.leases[l.ID]; used && !gone[l.ID] {
		return agentos.Lease{}, fmt.Errorf("lock: insert %s: the lease id is in use", l.ID)
	}
	seen := map[string]bool{}
	for _, k := range l.Keys {
		if holder, ok := d.locks[k]; (ok && !gone[holder]) || seen[k] {
			return agentos.Lease{}, agentos.Errorf(agentos.ECONFLICT, "lock: insert %s: key %s is held", l.ID, k)
		}
		seen[k] = true
	}
	for id := range gone {
		d.dropLease(id)
	}
	d.leaseToken++
	l.Token = d.leaseToken
	stored := l
	stored.Keys = slices.Clone(l.Keys)
	stored.Expired = false
	d.leases[l.ID] = &stored
	for _, k := range l.Keys {
		d.locks[k] = l.ID
	}
	return l, nil
}

func (d *DB) dropLease(id string) bool {
	l, ok := d.leases[id]
	if !ok {
		return false
	}
	for _, k := range l.Keys {
		if d.locks[k] == id {
			delete(d.locks, k)
		}
	}
	delete(d.leases, id)
	return true
}

// RenewLease implements agentos.LeaseStore.
func (s *Store) RenewLease(ctx context.Context, id string, heartbeat, expires time.Time) (bool, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer d.mu.Unlock()
	l, ok := d.leases[id]
	if !ok {
		return false, nil
	}
	l.Heartbeat, l.Expires = heartbeat, expires
	return true, nil
}

// ReleaseLease implements agentos.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, id string) (bool, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer d.mu.Unlock()
	return d.dropLease(id), nil
}

// ForceReleaseLease implements agentos.LeaseStore: the removal and its
// audit event together.
func (s *Store) ForceReleaseLease(ctx context.Context, id string, ev func(agentos.Lease) agentos.EventInput) (*agentos.Lease, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	stored, ok := d.leases[id]
	if !ok {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no lock %s: run `agentos lock list` for the held ones", id)
	}
	l := readLease(stored, s.Now())
	var out []agentos.Event
	if ev != nil {
		if out, err = s.chain(d, []agentos.EventInput{ev(l)}); err != nil {
			return nil, err
		}
	}
	d.dropLease(id)
	d.commitEvents(out)
	return &l, nil
}

// Lease implements agentos.LeaseStore.
func (s *Store) Lease(ctx context.Context, id string, now time.Time) (*agentos.Lease, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	stored, ok := d.leases[id]
	if !ok {
		return nil, nil
	}
	l := readLease(stored, now)
	return &l, nil
}

// LeaseHolding implements agentos.LeaseStore.
func (s *Store) LeaseHolding(ctx context.Context, key string, now time.Time) (*agentos.Lease, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	id, ok := d.locks[key]
	if !ok {
		return nil, nil
	}
	l := readLease(d.leases[id], now)
	return &l, nil
}

// Leases implements agentos.LeaseStore: oldest first.
func (s *Store) Leases(ctx context.Context, now time.Time, onlyExpired bool) ([]agentos.Lease, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var out []agentos.Lease
	for _, stored := range d.leases {
		l := readLease(stored, now)
		if !onlyExpired || l.Expired {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b agentos.Lease) int {
		return cmp.Or(a.Acquired.Compare(b.Acquired), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
