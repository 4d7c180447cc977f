package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// timeFormat is agentos.TimeFormat: one text encoding of times in both
// stores, written fixed-width (agentos.StoreTimeFormat) so the text sorts in
// time order. Lease times are Unix nanoseconds instead, so expiry is an
// integer comparison in SQL.
const timeFormat = agentos.TimeFormat

func fmtTime(t time.Time) string { return t.UTC().Format(agentos.StoreTimeFormat) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

// Append appends events to the audit chain in one transaction.
func (d *DB) Append(ctx context.Context, evs ...agentos.EventInput) ([]agentos.Event, error) {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out, err := d.appendTx(ctx, tx, evs...)
	if err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// appendTx chains events after the current head inside tx. Callers hold a
// write transaction (BEGIN IMMEDIATE), so the head cannot move underneath.
func (d *DB) appendTx(ctx context.Context, tx *sql.Tx, evs ...agentos.EventInput) ([]agentos.Event, error) {
	var seq int64
	prev := agentos.GenesisHash
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit (seq, time, task, run, actor, kind, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	now := d.Now().UTC()
	out := make([]agentos.Event, 0, len(evs))
	for _, in := range evs {
		data, err := canonjson.Marshal(in.Data)
		if err != nil {
			return nil, fmt.Errorf("audit data: %w", err)
		}
		if d.Redact != nil {
			data = d.Redact(data)
		}
		seq++
		e := agentos.Event{Seq: seq, Time: now, Task: in.Task, Run: in.Run, Actor: in.Actor, Kind: in.Kind, Data: data, PrevHash: prev}
		e.Hash = e.ComputeHash()
		if _, err := stmt.ExecContext(ctx, e.Seq, fmtTime(e.Time), e.Task, e.Run, string(e.Actor), e.Kind, string(e.Data), e.PrevHash, e.Hash); err != nil {
			return nil, fmt.Errorf("audit append: %w", err)
		}
		prev = e.Hash
		out = append(out, e)
	}
	return out, nil
}

// Events lists audit events in sequence order.
func (d *DB) Events(ctx context.Context, f agentos.EventFilter) ([]agentos.Event, error) {
	q := `SELECT seq, time, task, run, actor, kind, data, prev_hash, hash FROM audit WHERE seq >= ?`
	args := []any{f.FromSeq}
	if f.Task != "" {
		q += ` AND task = ?`
		args = append(args, f.Task)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agentos.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEvent(rows *sql.Rows) (agentos.Event, error) {
	var e agentos.Event
	var tm, actor, data string
	if err := rows.Scan(&e.Seq, &tm, &e.Task, &e.Run, &actor, &e.Kind, &data, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Time = parseTime(tm)
	e.Actor = agentos.Actor(actor)
	e.Data = json.RawMessage(data)
	return e, nil
}

// ChainHead returns the last event's seq and hash.
func (d *DB) ChainHead(ctx context.Context) (int64, string, error) {
	var seq int64
	hash := agentos.GenesisHash
	err := d.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if err == sql.ErrNoRows {
		return 0, hash, nil
	}
	return seq, hash, err
}

// VerifyChain recomputes every event's hash and link, streaming the table.
// It returns the number of events checked, and a *agentos.ChainError (wrapped in an
// agentos conflict error) at the first edited, deleted or reordered row.
func (d *DB) VerifyChain(ctx context.Context) (int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, time, task, run, actor, kind, data, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var check agentos.ChainCheck
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return check.Checked(), err
		}
		if err := check.Next(e); err != nil {
			return check.Checked(), err
		}
	}
	return check.Checked(), rows.Err()
}
