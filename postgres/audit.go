package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/jackc/pgx/v5"
)

// Append appends events to the audit chain in one transaction.
func (d *DB) Append(ctx context.Context, evs ...agentos.EventInput) ([]agentos.Event, error) {
	var out []agentos.Event
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = d.appendTx(ctx, tx, evs...)
		return err
	})
	return out, err
}

// appendTx chains events after the current head inside tx.
//
// Appends are serialised by a row lock on the one-row audit_append_lock
// table (SELECT ... FOR UPDATE), held until tx ends: the next appender reads
// the head only after this one committed or rolled back, so the chain stays
// one line whatever the number of processes. A row lock rather than
// pg_advisory_xact_lock because it is part of the schema (no key space to
// share with other programs using the database, visible in pg_locks as a
// lock on a named table) and behaves the same through a transaction-pooling
// proxy. Every transaction that appends takes it last, after its other
// locks, so it cannot take part in a deadlock.
func (d *DB) appendTx(ctx context.Context, tx pgx.Tx, evs ...agentos.EventInput) ([]agentos.Event, error) {
	if _, err := tx.Exec(ctx, `SELECT id FROM audit_append_lock WHERE id = 1 FOR UPDATE`); err != nil {
		return nil, fmt.Errorf("audit lock: %w", err)
	}
	// READ COMMITTED: this statement's snapshot is taken after the lock was
	// granted, so it sees the previous holder's rows.
	var seq int64
	prev := agentos.GenesisHash
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	now := d.Now().UTC()
	out := make([]agentos.Event, 0, len(evs))
	batch := &pgx.Batch{}
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
		batch.Queue(`INSERT INTO audit (seq, time, task, run, actor, kind, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
			e.Seq, fmtTime(e.Time), e.Task, e.Run, string(e.Actor), e.Kind, string(e.Data), e.PrevHash, e.Hash)
		prev = e.Hash
		out = append(out, e)
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("audit append: %w", err)
	}
	return out, nil
}

const eventCols = `seq, time, task, run, actor, kind, data, prev_hash, hash`

// Events lists audit events in sequence order.
func (d *DB) Events(ctx context.Context, f agentos.EventFilter) ([]agentos.Event, error) {
	q := `SELECT ` + eventCols + ` FROM audit WHERE seq >= $1`
	args := []any{f.FromSeq}
	if f.Task != "" {
		args = append(args, f.Task)
		q += fmt.Sprintf(` AND task = $%d`, len(args))
	}
	if f.Kind != "" {
		args = append(args, f.Kind)
		q += fmt.Sprintf(` AND kind = $%d`, len(args))
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := d.pool.Query(ctx, q, args...)
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

func scanEvent(rows pgx.Rows) (agentos.Event, error) {
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
	err := d.pool.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, agentos.GenesisHash, nil
	}
	return seq, hash, err
}

// VerifyChain recomputes every event's hash and link, streaming the table.
// It returns the number of events checked, and a *agentos.ChainError
// (wrapped in an agentos conflict error) at the first edited, deleted or
// reordered row.
func (d *DB) VerifyChain(ctx context.Context) (int64, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+eventCols+` FROM audit ORDER BY seq`)
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
