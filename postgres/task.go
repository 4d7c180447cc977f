package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/jackc/pgx/v5"
)

const taskCols = `id, state, mode, goal, request, planner, submitter, labels, target, intent_id, plan_id, plan_hash, run_id, commit_sha, reason, auto_apply, auto_queue, source, source_path, created_at, updated_at, source_blob`

func scanTask(s pgx.Row) (*agentos.Task, error) {
	var t agentos.Task
	var state, mode, submitter, labels, created, updated string
	var source []byte
	err := s.Scan(&t.ID, &state, &mode, &t.Goal, &t.Request, &t.Planner, &submitter, &labels, &t.Target,
		&t.IntentID, &t.PlanID, &t.PlanHash, &t.RunID, &t.Commit, &t.Reason, &t.AutoApply, &t.AutoQueue, &source, &t.SourcePath, &created, &updated, &t.SourceBlob)
	if err != nil {
		return nil, err
	}
	t.State, t.Mode, t.Submitter, t.Source = agentos.State(state), agentos.Mode(mode), agentos.Actor(submitter), string(source)
	_ = json.Unmarshal([]byte(labels), &t.Labels)
	if t.Labels == nil {
		t.Labels = []string{}
	}
	t.CreatedAt, t.UpdatedAt = parseTime(created), parseTime(updated)
	return &t, nil
}

// CreateTask inserts a new task in state created and audits it.
func (d *DB) CreateTask(ctx context.Context, t *agentos.Task) error {
	return d.inTx(ctx, func(tx pgx.Tx) error {
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
		_, err := tx.Exec(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)`,
			t.ID, string(t.State), string(t.Mode), t.Goal, t.Request, t.Planner, string(t.Submitter), string(labels), t.Target,
			t.IntentID, t.PlanID, t.PlanHash, t.RunID, t.Commit, t.Reason, t.AutoApply, t.AutoQueue, []byte(source), t.SourcePath, fmtTime(now), fmtTime(now), ref)
		if err != nil {
			return fmt.Errorf("create task: %w", err)
		}
		_, err = d.appendTx(ctx, tx, agentos.NewTaskCreatedEvent(t))
		return err
	})
}

// Task returns a task by id (or unique id prefix).
func (d *DB) Task(ctx context.Context, id string) (*agentos.Task, error) {
	return taskQ(ctx, d.pool, id, "")
}

// taskQ finds a task by id, else by unique id prefix; suffix is appended to
// both queries (" FOR UPDATE" inside a transaction that will write it).
func taskQ(ctx context.Context, q querier, id, suffix string) (*agentos.Task, error) {
	t, err := scanTask(q.QueryRow(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = $1`+suffix, id))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	if id == "" {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no task id given: see `agentos task list`")
	}
	rows, err := q.Query(ctx, `SELECT `+taskCols+` FROM tasks WHERE id LIKE $1 ESCAPE '\' ORDER BY id LIMIT 2`+suffix, escapeLike(id)+"%")
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, agentos.Errorf(agentos.ENOTFOUND, "unknown task %q: see `agentos task list`", id)
	}
	return nil, agentos.Errorf(agentos.EINVALID, "task id %q is ambiguous: give more characters", id)
}

// escapeLike escapes LIKE's wildcards and its escape character, so a prefix
// matches literally.
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

// Tasks lists tasks, newest first (StoreTimeFormat text sorts in time
// order). The time bounds select to the second in SQL and TaskFilter.Match
// finishes the job.
func (d *DB) Tasks(ctx context.Context, f agentos.TaskFilter) ([]*agentos.Task, error) {
	q := `SELECT ` + taskCols + ` FROM tasks`
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.State != "" {
		where = append(where, `state = `+arg(string(f.State)))
	}
	if f.Ended {
		var in []string
		for _, s := range agentos.TerminalStates() {
			in = append(in, arg(string(s)))
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
	rows, err := d.pool.Query(ctx, q, args...)
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
// event appended in the same transaction. Extra events ride along
// atomically. The task row is read FOR UPDATE: a concurrent transition of
// the same task waits, then sees the state it left and is refused.
func (d *DB) Transition(ctx context.Context, id string, from, to agentos.State, actor agentos.Actor, upd agentos.TaskUpdate, detail agentos.TransitionDetail, extra ...agentos.EventInput) (*agentos.Task, error) {
	if err := agentos.CheckTransition(from, to); err != nil {
		return nil, err
	}
	var t *agentos.Task
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = taskQ(ctx, tx, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		if t.State != from {
			return agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not %s (another process moved it)", id, t.State, from)
		}
		upd.Apply(t)
		t.State = to
		t.UpdatedAt = d.Now().UTC()
		tag, err := tx.Exec(ctx, `UPDATE tasks SET state=$1, reason=$2, plan_id=$3, plan_hash=$4, intent_id=$5, run_id=$6, commit_sha=$7, goal=$8, auto_apply=$9, updated_at=$10 WHERE id=$11 AND state=$12`,
			string(t.State), t.Reason, t.PlanID, t.PlanHash, t.IntentID, t.RunID, t.Commit, t.Goal, t.AutoApply, fmtTime(t.UpdatedAt), t.ID, string(from))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return agentos.Errorf(agentos.ECONFLICT, "task %s changed state concurrently", id)
		}
		evs := append([]agentos.EventInput{agentos.NewTransitionEvent(t, from, actor, upd.Reason != nil, detail)}, extra...)
		_, err = d.appendTx(ctx, tx, evs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SavePlan stores a plan (re-hashing it) and audits it.
func (d *DB) SavePlan(ctx context.Context, p *agentos.Plan, actor agentos.Actor) error {
	p.Hash = p.ComputeHash()
	body, blobs, err := agentos.PlanForStore(p)
	if err != nil {
		return err
	}
	return d.inTx(ctx, func(tx pgx.Tx) error {
		for _, b := range blobs {
			if err := d.putBlob(ctx, tx, b); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plans (id, task, hash, body, created_at) VALUES ($1,$2,$3,$4,$5)`, p.ID, p.Task, p.Hash, string(body), fmtTime(d.Now())); err != nil {
			return fmt.Errorf("save plan: %w", err)
		}
		_, err := d.appendTx(ctx, tx, agentos.NewPlanStoredEvent(p, actor))
		return err
	})
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
	err := d.pool.QueryRow(ctx, `SELECT hash, body FROM plans WHERE id = $1`, id).Scan(&hash, &body)
	if errors.Is(err, pgx.ErrNoRows) {
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
func (d *DB) putBlob(ctx context.Context, tx pgx.Tx, b agentos.Blob) error {
	tag, err := tx.Exec(ctx, `INSERT INTO blobs (hash, size, created_at) VALUES ($1,$2,$3) ON CONFLICT (hash) DO NOTHING`, b.Hash, len(b.Data), fmtTime(d.Now()))
	if err != nil {
		return fmt.Errorf("save blob: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	// One buffer for every chunk: the driver has copied a chunk by the
	// time the insert returns, and a new one each time left garbage the
	// size of the blob for the collector (the peak of a large plan).
	buf := make([]byte, 0, min(agentos.BlobChunk, len(b.Data)))
	for seq, off := 0, 0; off < len(b.Data); seq, off = seq+1, off+agentos.BlobChunk {
		chunk := append(buf[:0], b.Data[off:min(off+agentos.BlobChunk, len(b.Data))]...)
		if _, err := tx.Exec(ctx, `INSERT INTO blob_chunks (hash, seq, data) VALUES ($1,$2,$3)`, b.Hash, seq, chunk); err != nil {
			return fmt.Errorf("save blob: %w", err)
		}
	}
	return nil
}

// Blob reads a blob back: the size first, so the chunks go into one
// buffer of the right size; bytes that do not hash to it are refused.
func (d *DB) Blob(ctx context.Context, hash string) (string, error) {
	var size int64
	err := d.pool.QueryRow(ctx, `SELECT size FROM blobs WHERE hash = $1`, hash).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", agentos.Errorf(agentos.ECONFLICT, "stored blob %s is missing: the store was changed outside AgentOS", hash)
	}
	if err != nil {
		return "", err
	}
	data, err := agentos.ReadBlob(size, func(add func([]byte)) error {
		rows, err := d.pool.Query(ctx, `SELECT data FROM blob_chunks WHERE hash = $1 ORDER BY seq`, hash)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var chunk []byte
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
	rows, err := d.pool.Query(ctx, `SELECT id, hash FROM plans WHERE task = $1 ORDER BY created_at, pos`, task)
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

// SaveIntent stores an intent (a re-planned intent replaces the stored one,
// as in SQLite; intents are not audit-grade rows).
func (d *DB) SaveIntent(ctx context.Context, in *agentos.Intent) error {
	in.Hash = in.ComputeHash()
	body, err := canonjson.Marshal(in)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO intents (id, task, hash, body) VALUES ($1,$2,$3,$4)
		ON CONFLICT (id) DO UPDATE SET task = EXCLUDED.task, hash = EXCLUDED.hash, body = EXCLUDED.body`, in.ID, in.Task, in.Hash, string(body))
	return err
}

// Intent loads an intent.
func (d *DB) Intent(ctx context.Context, id string) (*agentos.Intent, error) {
	var body string
	err := d.pool.QueryRow(ctx, `SELECT body FROM intents WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
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
	return d.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO memory_packs (id, task, hash, body) VALUES ($1,$2,$3,$4)`, m.ID, m.Task, m.Hash, string(body)); err != nil {
			return err
		}
		_, err := d.appendTx(ctx, tx, agentos.NewMemoryPackEvent(m, actor))
		return err
	})
}

// MemoryPackByHash loads the stored pack whose recorded hash is hash. The
// pack's content is returned as stored: admission re-hashes it.
func (d *DB) MemoryPackByHash(ctx context.Context, task, hash string) (*agentos.MemoryPack, error) {
	var body string
	err := d.pool.QueryRow(ctx, `SELECT body FROM memory_packs WHERE task = $1 AND hash = $2 ORDER BY pos DESC LIMIT 1`, task, hash).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
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

// LatestMemoryPack returns the newest pack stored for a task, re-checked
// against the hash it was stored under.
func (d *DB) LatestMemoryPack(ctx context.Context, task string) (*agentos.MemoryPack, error) {
	var hash, body string
	err := d.pool.QueryRow(ctx, `SELECT hash, body FROM memory_packs WHERE task = $1 ORDER BY pos DESC LIMIT 1`, task).Scan(&hash, &body)
	if errors.Is(err, pgx.ErrNoRows) {
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
