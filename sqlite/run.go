package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// CreateRun starts a run record.
func (d *DB) CreateRun(ctx context.Context, r *agentos.Run) error {
	r.StartedAt = d.Now().UTC()
	_, err := d.db.ExecContext(ctx, `INSERT INTO runs (id, task, plan_hash, started_at, worktree) VALUES (?,?,?,?,?)`,
		r.ID, r.Task, r.PlanHash, fmtTime(r.StartedAt), r.Worktree)
	return err
}

// FinishRun records a run's outcome.
func (d *DB) FinishRun(ctx context.Context, r *agentos.Run) error {
	r.EndedAt = d.Now().UTC()
	_, err := d.db.ExecContext(ctx, `UPDATE runs SET ended_at=?, outcome=?, commit_sha=?, unconfined=? WHERE id=?`,
		fmtTime(r.EndedAt), r.Outcome, r.Commit, r.Unconfined, r.ID)
	return err
}

// Run loads a run.
func (d *DB) Run(ctx context.Context, id string) (*agentos.Run, error) {
	var r agentos.Run
	var started, ended, outcome string
	err := d.db.QueryRowContext(ctx, `SELECT id, task, plan_hash, started_at, ended_at, outcome, worktree, commit_sha, unconfined FROM runs WHERE id = ?`, id).
		Scan(&r.ID, &r.Task, &r.PlanHash, &started, &ended, &outcome, &r.Worktree, &r.Commit, &r.Unconfined)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "run %s not found", id)
	}
	r.StartedAt, r.EndedAt, r.Outcome = parseTime(started), parseTime(ended), agentos.State(outcome)
	return &r, err
}

// RunsOf lists a task's runs, oldest first.
func (d *DB) RunsOf(ctx context.Context, task string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id FROM runs WHERE task = ? ORDER BY started_at, rowid`, task)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddRecord stores a step record (red line 4) and audits it in one transaction.
func (d *DB) AddRecord(ctx context.Context, task string, rec agentos.StepRecord, actor agentos.Actor) error {
	body, err := canonjson.Marshal(rec)
	if err != nil {
		return err
	}
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM step_records WHERE run = ?`, rec.Run).Scan(&seq); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO step_records (run, seq, phase, body) VALUES (?,?,?,?)`, rec.Run, seq, rec.Phase, string(body)); err != nil {
		return err
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewStepEvent(task, rec, actor)); err != nil {
		return err
	}
	return tx.Commit()
}

// Records lists a run's step records in order.
func (d *DB) Records(ctx context.Context, run string) ([]agentos.StepRecord, error) {
	return listBodies[agentos.StepRecord](ctx, d.db, `SELECT body FROM step_records WHERE run = ? ORDER BY seq`, run)
}

// AddPatch records a patch with its intent and diff hash (red line 6).
func (d *DB) AddPatch(ctx context.Context, run string, p agentos.PatchRecord) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	diff, blob := agentos.BlobForStore(p.Diff)
	ref := ""
	if blob != nil {
		if err := d.putBlob(ctx, tx, *blob); err != nil {
			return err
		}
		ref = blob.Hash
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO patches (run, seq, path, diff_hash, intent_id, diff, diff_blob, diff_bytes) VALUES (?, (SELECT COALESCE(MAX(seq),0)+1 FROM patches WHERE run = ?), ?,?,?,?,?,?)`,
		run, run, p.Path, p.DiffHash, p.IntentID, diff, ref, len(p.Diff)); err != nil {
		return err
	}
	return tx.Commit()
}

// Patches lists a run's patches.
func (d *DB) Patches(ctx context.Context, run string) ([]agentos.PatchRecord, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT path, diff_hash, intent_id, diff, diff_blob, diff_bytes FROM patches WHERE run = ? ORDER BY seq`, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agentos.PatchRecord
	for rows.Next() {
		var p agentos.PatchRecord
		if err := rows.Scan(&p.Path, &p.DiffHash, &p.IntentID, &p.Diff, &p.DiffBlob, &p.DiffBytes); err != nil {
			return nil, err
		}
		if p.DiffBlob == "" {
			p.DiffBytes = 0 // a small diff is carried as it is
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AddCommit records a commit and audits it.
func (d *DB) AddCommit(ctx context.Context, c agentos.CommitRow, actor agentos.Actor) error {
	tr, _ := json.Marshal(c.Trailers)
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO commits (sha, task, run, branch, plan_hash, diff_hash, intent_id, kind, trailers) VALUES (?,?,?,?,?,?,?,?,?)`,
		c.SHA, c.Task, c.Run, c.Branch, c.PlanHash, c.DiffHash, c.IntentID, c.Kind, string(tr)); err != nil {
		return err
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewCommitEvent(c, actor)); err != nil {
		return err
	}
	return tx.Commit()
}

// Commit loads a recorded commit by full sha.
func (d *DB) Commit(ctx context.Context, sha string) (*agentos.CommitRow, error) {
	var c agentos.CommitRow
	var tr string
	err := d.db.QueryRowContext(ctx, `SELECT sha, task, run, branch, plan_hash, diff_hash, intent_id, kind, trailers FROM commits WHERE sha = ?`, sha).
		Scan(&c.SHA, &c.Task, &c.Run, &c.Branch, &c.PlanHash, &c.DiffHash, &c.IntentID, &c.Kind, &tr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "commit %s was not made by AgentOS in this repository", sha)
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(tr), &c.Trailers)
	return &c, nil
}

// CommitsOf lists the commits of a task, oldest first.
func (d *DB) CommitsOf(ctx context.Context, task string) ([]agentos.CommitRow, error) {
	return d.commits(ctx, `WHERE task = ?`, task)
}

// Commits lists every recorded commit, oldest first.
func (d *DB) Commits(ctx context.Context) ([]agentos.CommitRow, error) {
	return d.commits(ctx, ``)
}

func (d *DB) commits(ctx context.Context, where string, args ...any) ([]agentos.CommitRow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT sha, task, run, branch, plan_hash, diff_hash, intent_id, kind, trailers FROM commits `+where+` ORDER BY rowid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agentos.CommitRow
	for rows.Next() {
		var c agentos.CommitRow
		var tr string
		if err := rows.Scan(&c.SHA, &c.Task, &c.Run, &c.Branch, &c.PlanHash, &c.DiffHash, &c.IntentID, &c.Kind, &tr); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(tr), &c.Trailers)
		out = append(out, c)
	}
	return out, rows.Err()
}

// SaveGateDecisions stores the gate decisions for a plan and audits each.
func (d *DB) SaveGateDecisions(ctx context.Context, task, planHash string, ds []agentos.GateDecision, actor agentos.Actor) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM gate_decisions WHERE task = ? AND plan_hash = ?`, task, planHash); err != nil {
		return err
	}
	evs := make([]agentos.EventInput, 0, len(ds))
	for i, g := range ds {
		body, _ := canonjson.Marshal(g)
		if _, err := tx.ExecContext(ctx, `INSERT INTO gate_decisions (task, plan_hash, seq, body) VALUES (?,?,?,?)`, task, planHash, i, string(body)); err != nil {
			return err
		}
		evs = append(evs, agentos.NewGateEvent(task, planHash, g, actor))
	}
	if len(evs) > 0 {
		if _, err := d.appendTx(ctx, tx, evs...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// GateDecisions lists the stored decisions for a plan.
func (d *DB) GateDecisions(ctx context.Context, task, planHash string) ([]agentos.GateDecision, error) {
	out, err := listBodies[agentos.GateDecision](ctx, d.db, `SELECT body FROM gate_decisions WHERE task = ? AND plan_hash = ? ORDER BY seq`, task, planHash)
	if out == nil && err == nil {
		out = []agentos.GateDecision{}
	}
	return out, err
}

// SaveReview stores a ReviewPack (JSON and Markdown) and audits it.
func (d *DB) SaveReview(ctx context.Context, rp *agentos.ReviewPack, md string) error {
	body, err := canonjson.Marshal(rp)
	if err != nil {
		return err
	}
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO reviews (task, run, hash, json, markdown, created_at) VALUES (?,?,?,?,?,?)`,
		rp.Task, rp.Run, rp.Hash, string(body), md, fmtTime(d.Now())); err != nil {
		return err
	}
	if _, err := d.appendTx(ctx, tx, agentos.NewReviewEvent(rp)); err != nil {
		return err
	}
	return tx.Commit()
}

// Review loads the newest ReviewPack of a task (JSON and Markdown).
func (d *DB) Review(ctx context.Context, task string) (*agentos.ReviewPack, string, error) {
	var body, md string
	err := d.db.QueryRowContext(ctx, `SELECT json, markdown FROM reviews WHERE task = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, task).Scan(&body, &md)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", agentos.Errorf(agentos.ENOTFOUND, "task %s has no ReviewPack yet (it is written when a run ends)", task)
	}
	if err != nil {
		return nil, "", err
	}
	var rp agentos.ReviewPack
	return &rp, md, json.Unmarshal([]byte(body), &rp)
}

// SaveQuestionPack stores a QuestionPack.
func (d *DB) SaveQuestionPack(ctx context.Context, q *agentos.QuestionPack) error {
	q.Hash = q.ComputeHash()
	body, err := canonjson.Marshal(q)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO question_packs (id, task, hash, body, created_at) VALUES (?,?,?,?,?)`, q.ID, q.Task, q.Hash, string(body), fmtTime(d.Now()))
	return err
}

// LatestQuestionPack returns the newest QuestionPack of a task.
func (d *DB) LatestQuestionPack(ctx context.Context, task string) (*agentos.QuestionPack, error) {
	var body string
	err := d.db.QueryRowContext(ctx, `SELECT body FROM question_packs WHERE task = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, task).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has asked no questions", task)
	}
	if err != nil {
		return nil, err
	}
	var q agentos.QuestionPack
	return &q, json.Unmarshal([]byte(body), &q)
}

// SaveAnswerPack stores an accepted AnswerPack.
func (d *DB) SaveAnswerPack(ctx context.Context, task string, a *agentos.AnswerPack) error {
	a.Hash = a.ComputeHash()
	body, err := canonjson.Marshal(a)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO answer_packs (hash, task, pack, body, created_at) VALUES (?,?,?,?,?)`, a.Hash, task, a.Pack, string(body), fmtTime(d.Now()))
	return err
}

// AnswerPacks lists a task's accepted AnswerPacks, oldest first.
func (d *DB) AnswerPacks(ctx context.Context, task string) ([]agentos.AnswerPack, error) {
	return listBodies[agentos.AnswerPack](ctx, d.db, `SELECT body FROM answer_packs WHERE task = ? ORDER BY created_at, rowid`, task)
}

// listBodies runs a query selecting one JSON body column and decodes each row.
func listBodies[T any](ctx context.Context, q querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
