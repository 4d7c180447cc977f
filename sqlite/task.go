package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

const taskCols = `id, state, mode, goal, request, planner, submitter, labels, target, intent_id, plan_id, plan_hash, run_id, commit_sha, reason, auto_apply, auto_queue, source, source_path, created_at, updated_at, source_blob`

type scanner interface{ Scan(...any) error }

func scanTask(s scanner) (*agentos.Task, error) {
	var t agentos.Task
	var state, mode, submitter, labels, created, updated string
	err := s.Scan(&t.ID, &state, &mode, &t.Goal, &t.Request, &t.Planner, &submitter, &labels, &t.Target,
		&t.IntentID, &t.PlanID, &t.PlanHash, &t.RunID, &t.Commit, &t.Reason, &t.AutoApply, &t.AutoQueue, &t.Source, &t.SourcePath, &created, &updated, &t.SourceBlob)
	if err != nil {
		return nil, err
	}
	t.State, t.Mode, t.Submitter = agentos.State(state), agentos.Mode(mode), agentos.Actor(submitter)
	_ = json.Unmarshal([]byte(labels), &t.Labels)
	if t.Labels == nil {
		t.Labels = []string{}
	}
	t.CreatedAt, t.UpdatedAt = parseTime(created), parseTime(updated)
	return &t, nil
}

// CreateTask inserts a new task in state created and audits it.
func (d *DB) CreateTask(ctx context.Context, t *agentos.Task) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := d.Now().UTC()
	t.State = agentos.StateCreated
	t.CreatedAt, t.UpdatedAt = now, now
	if t.Labels == nil {
		t.Labels = []string{}
	}
	labels, _ := json.Marshal(t.Labels)
	source, blob := agentos.BlobForStore(t.Source)
	ref := ""
	if blob != nil {
		if err := d.putBlob(ctx, tx, *blob); err != nil {
			return err
		}
		ref = blob.Hash
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		t.ID, t.State, t.Mode, t.Goal, t.Request, t.Planner, t.Submitter, string(labels), t.Target,
		t.IntentID, t.PlanID, t.PlanHash, t.RunID, t.Commit, t.Reason, t.AutoApply, t.AutoQueue, source, t.SourcePath, fmtTime(now), fmtTime(now), ref)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewTaskCreatedEvent(t)); err != nil {
		return err
	}
	return tx.Commit()
}

// Task returns a task by id (or unique id prefix).
func (d *DB) Task(ctx context.Context, id string) (*agentos.Task, error) {
	return d.taskQ(ctx, d.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (d *DB) taskQ(ctx context.Context, q querier, id string) (*agentos.Task, error) {
	t, err := scanTask(q.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if id == "" {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no task id given: see `agentos task list`")
	}
	// LIKE narrows (and is ASCII case-insensitive in SQLite); the substr
	// comparison keeps the prefix literal and case-sensitive, like the exact
	// lookup above and like the PostgreSQL store.
	rows, err := q.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id LIKE ? ESCAPE '\' AND substr(id, 1, length(?)) = ? LIMIT 2`, escapeLike(id)+"%", id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []*agentos.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		found = append(found, t)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, agentos.Errorf(agentos.ENOTFOUND, "unknown task %q: see `agentos task list`", id)
	}
	return nil, agentos.Errorf(agentos.EINVALID, "task id %q is ambiguous: give more characters", id)
}

func escapeLike(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '_' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// tasksQuery is the SELECT of Tasks for f.
func tasksQuery(f agentos.TaskFilter) (string, []any) {
	q := `SELECT ` + taskCols + ` FROM tasks`
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "?"
	}
	if f.State != "" {
		where = append(where, `state = `+arg(f.State))
	}
	if f.Ended {
		var in []string
		for _, s := range agentos.TerminalStates() {
			in = append(in, arg(s))
		}
		where = append(where, `state IN (`+strings.Join(in, ", ")+`)`)
	}
	if !f.UpdatedSince.IsZero() {
		where = append(where, `updated_at >= `+arg(agentos.TimeBoundSeconds(f.UpdatedSince)))
	}
	if !f.UpdatedBefore.IsZero() {
		where = append(where, `updated_at < `+arg(agentos.TimeBoundSeconds(f.UpdatedBefore.Truncate(time.Second).Add(time.Second))))
	}
	if f.After != nil {
		// StoreTimeFormat text sorts in time order: exact in SQL.
		at := agentos.StoreTime(f.After.CreatedAt)
		where = append(where, `(created_at < `+arg(at)+` OR (created_at = `+arg(at)+` AND id < `+arg(f.After.ID)+`))`)
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	exact := f.UpdatedSince.IsZero() && f.UpdatedBefore.IsZero()
	if f.Limit > 0 && exact {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// Tasks lists tasks, newest first (StoreTimeFormat text sorts in time
// order). The time bounds select to the second in SQL and TaskFilter.Match
// finishes the job.
func (d *DB) Tasks(ctx context.Context, f agentos.TaskFilter) ([]*agentos.Task, error) {
	q, args := tasksQuery(f)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*agentos.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		if !f.Match(t) {
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Transition is the only writer of a task's state: a compare-and-swap from
// `from` to `to`, checked against the one transition table, with the audit
// event appended in the same transaction. Extra events ride along atomically.
func (d *DB) Transition(ctx context.Context, id string, from, to agentos.State, actor agentos.Actor, upd agentos.TaskUpdate, detail agentos.TransitionDetail, extra ...agentos.EventInput) (*agentos.Task, error) {
	if err := agentos.CheckTransition(from, to); err != nil {
		return nil, err
	}
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := d.taskQ(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if t.State != from {
		return nil, agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not %s (another process moved it)", id, t.State, from)
	}
	upd.Apply(t)
	t.State = to
	t.UpdatedAt = d.Now().UTC()
	res, err := tx.ExecContext(ctx, `UPDATE tasks SET state=?, reason=?, plan_id=?, plan_hash=?, intent_id=?, run_id=?, commit_sha=?, goal=?, auto_apply=?, updated_at=? WHERE id=? AND state=?`,
		t.State, t.Reason, t.PlanID, t.PlanHash, t.IntentID, t.RunID, t.Commit, t.Goal, t.AutoApply, fmtTime(t.UpdatedAt), t.ID, from)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, agentos.Errorf(agentos.ECONFLICT, "task %s changed state concurrently", id)
	}
	evs := append([]agentos.EventInput{agentos.NewTransitionEvent(t, from, actor, upd.Reason != nil, detail)}, extra...)
	if _, err := d.appendTx(ctx, tx, evs...); err != nil {
		return nil, err
	}
	return t, tx.Commit()
}

// SavePlan stores a plan (re-hashing it) and audits it.
func (d *DB) SavePlan(ctx context.Context, p *agentos.Plan, actor agentos.Actor) error {
	p.Hash = p.ComputeHash()
	body, blobs, err := agentos.PlanForStore(p)
	if err != nil {
		return err
	}
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, b := range blobs {
		if err := d.putBlob(ctx, tx, b); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO plans (id, task, hash, body, created_at) VALUES (?,?,?,?,?)`, p.ID, p.Task, p.Hash, string(body), fmtTime(d.Now())); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewPlanStoredEvent(p, actor)); err != nil {
		return err
	}
	return tx.Commit()
}

// Plan loads a stored plan. The stored hash column and the body's hash field
// are returned as stored: admission re-hashes and compares.
func (d *DB) Plan(ctx context.Context, id string) (*agentos.Plan, string, error) {
	return d.plan(ctx, id, func(body []byte) (*agentos.Plan, error) {
		return agentos.PlanFromStore(body, func(h string) (string, error) { return d.Blob(ctx, h) })
	})
}

// PlanWithoutBodies implements agentos.TaskStore: Plan without reading a
// blob.
func (d *DB) PlanWithoutBodies(ctx context.Context, id string) (*agentos.Plan, string, error) {
	return d.plan(ctx, id, agentos.PlanWithoutBodiesFromStore)
}

// plan reads a plan's row and decodes its body with decode.
func (d *DB) plan(ctx context.Context, id string, decode func([]byte) (*agentos.Plan, error)) (*agentos.Plan, string, error) {
	var hash, body string
	err := d.db.QueryRowContext(ctx, `SELECT hash, body FROM plans WHERE id = ?`, id).Scan(&hash, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", agentos.Errorf(agentos.ENOTFOUND, "plan %s not found", id)
	}
	if err != nil {
		return nil, "", err
	}
	p, err := decode([]byte(body))
	if err != nil {
		if agentos.ErrorCode(err) == agentos.ECONFLICT {
			return nil, "", err
		}
		return nil, "", agentos.WrapError(agentos.ECONFLICT, err, "stored plan %s is corrupt: %v", id, err)
	}
	return p, hash, nil
}

// putBlob stores b once (a blob already kept is left as it is), a chunk
// at a time.
func (d *DB) putBlob(ctx context.Context, tx *sql.Tx, b agentos.Blob) error {
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO blobs (hash, size, created_at) VALUES (?,?,?)`, b.Hash, len(b.Data), fmtTime(d.Now()))
	if err != nil {
		return fmt.Errorf("save blob: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	// One buffer for every chunk: the driver has copied a chunk by the
	// time the insert returns, and a new one each time left garbage the
	// size of the blob for the collector (the peak of a large plan).
	buf := make([]byte, 0, min(agentos.BlobChunk, len(b.Data)))
	for seq, off := 0, 0; off < len(b.Data); seq, off = seq+1, off+agentos.BlobChunk {
		chunk := append(buf[:0], b.Data[off:min(off+agentos.BlobChunk, len(b.Data))]...)
		if _, err := tx.ExecContext(ctx, `INSERT INTO blob_chunks (hash, seq, data) VALUES (?,?,?)`, b.Hash, seq, chunk); err != nil {
			return fmt.Errorf("save blob: %w", err)
		}
	}
	return nil
}

// Blob reads a blob back: the size first, so the chunks go into one
// buffer of the right size; bytes that do not hash to it are refused.
func (d *DB) Blob(ctx context.Context, hash string) (string, error) {
	var size int64
	err := d.db.QueryRowContext(ctx, `SELECT size FROM blobs WHERE hash = ?`, hash).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return "", agentos.Errorf(agentos.ECONFLICT, "stored blob %s is missing: the store was changed outside AgentOS", hash)
	}
	if err != nil {
		return "", err
	}
	data, err := agentos.ReadBlob(size, func(add func([]byte)) error {
		rows, err := d.db.QueryContext(ctx, `SELECT data FROM blob_chunks WHERE hash = ? ORDER BY seq`, hash)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var chunk sql.RawBytes
			if err := rows.Scan(&chunk); err != nil {
				return err
			}
			add(chunk)
		}
		return rows.Err()
	})
	if err != nil {
		return "", err
	}
	return data, agentos.CheckBlob(hash, data)
}

// PlansOf lists a task's plan ids and hashes, oldest first.
func (d *DB) PlansOf(ctx context.Context, task string) ([][2]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, hash FROM plans WHERE task = ? ORDER BY created_at, rowid`, task)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		out = append(out, [2]string{a, b})
	}
	return out, rows.Err()
}

// SaveIntent stores an intent.
func (d *DB) SaveIntent(ctx context.Context, in *agentos.Intent) error {
	in.Hash = in.ComputeHash()
	body, err := canonjson.Marshal(in)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT OR REPLACE INTO intents (id, task, hash, body) VALUES (?,?,?,?)`, in.ID, in.Task, in.Hash, string(body))
	return err
}

// Intent loads an intent.
func (d *DB) Intent(ctx context.Context, id string) (*agentos.Intent, error) {
	var body string
	err := d.db.QueryRowContext(ctx, `SELECT body FROM intents WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "intent %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	var in agentos.Intent
	return &in, json.Unmarshal([]byte(body), &in)
}

// SaveMemoryPack stores a frozen MemoryPack (re-hashing it) and audits it.
func (d *DB) SaveMemoryPack(ctx context.Context, m *agentos.MemoryPack, actor agentos.Actor) error {
	m.Hash = m.ComputeHash()
	body, err := canonjson.Marshal(m)
	if err != nil {
		return err
	}
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO memory_packs (id, task, hash, body) VALUES (?,?,?,?)`, m.ID, m.Task, m.Hash, string(body)); err != nil {
		return err
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewMemoryPackEvent(m, actor)); err != nil {
		return err
	}
	return tx.Commit()
}

// MemoryPackByHash loads the stored pack whose recorded hash is hash. The
// pack's content is returned as stored: admission re-hashes it.
func (d *DB) MemoryPackByHash(ctx context.Context, task, hash string) (*agentos.MemoryPack, error) {
	var body string
	err := d.db.QueryRowContext(ctx, `SELECT body FROM memory_packs WHERE task = ? AND hash = ? ORDER BY rowid DESC LIMIT 1`, task, hash).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no MemoryPack %s stored for task %s", hash, task)
	}
	if err != nil {
		return nil, err
	}
	var m agentos.MemoryPack
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, agentos.WrapError(agentos.ECONFLICT, err, "stored MemoryPack for task %s is corrupt", task)
	}
	return &m, nil
}

// LatestMemoryPack returns the newest pack stored for a task. Like every
// read of a hashed artifact it re-checks the pack against the hash it was
// stored under, so a pack altered in the file is a conflict, never shown as
// the pinned one.
func (d *DB) LatestMemoryPack(ctx context.Context, task string) (*agentos.MemoryPack, error) {
	var hash, body string
	err := d.db.QueryRowContext(ctx, `SELECT hash, body FROM memory_packs WHERE task = ? ORDER BY rowid DESC LIMIT 1`, task).Scan(&hash, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has no MemoryPack: it is built when the task is planned (agentos plan)", task)
	}
	if err != nil {
		return nil, err
	}
	var m agentos.MemoryPack
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, agentos.WrapError(agentos.ECONFLICT, err, "the stored MemoryPack of task %s is not valid JSON: the store was altered; re-plan the task", task)
	}
	if got := m.ComputeHash(); got != hash || m.Hash != hash {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the MemoryPack of task %s is stored under hash %s but holds %s: the store was altered; re-plan the task", task, hash, got)
	}
	return &m, nil
}
