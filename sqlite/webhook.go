package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/agentos/agentos"
)

var _ agentos.WebhookStore = (*DB)(nil)

const webhookCols = `endpoint, seq, event, attempts, last_status, last_error, last_http, last_time, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanWebhookCursor(r rowScanner) (agentos.WebhookCursor, error) {
	var c agentos.WebhookCursor
	var last, upd string
	err := r.Scan(&c.Endpoint, &c.Seq, &c.Event, &c.Attempts, &c.LastStatus, &c.LastError, &c.LastHTTP, &last, &upd)
	if last != "" {
		c.LastTime = parseTime(last)
	}
	c.Updated = parseTime(upd)
	return c, err
}

// WebhookCursor implements agentos.WebhookStore.
func (d *DB) WebhookCursor(ctx context.Context, endpoint string) (*agentos.WebhookCursor, error) {
	return webhookCursor(ctx, d.db, endpoint)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func webhookCursor(ctx context.Context, q queryRower, endpoint string) (*agentos.WebhookCursor, error) {
	c, err := scanWebhookCursor(q.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhook_cursors WHERE endpoint = ?`, endpoint))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webhook cursor %s: %w", endpoint, err)
	}
	return &c, nil
}

// WebhookCursors implements agentos.WebhookStore.
func (d *DB) WebhookCursors(ctx context.Context) ([]agentos.WebhookCursor, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhook_cursors ORDER BY endpoint`)
	if err != nil {
		return nil, fmt.Errorf("webhook cursors: %w", err)
	}
	defer rows.Close()
	var out []agentos.WebhookCursor
	for rows.Next() {
		c, err := scanWebhookCursor(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SaveWebhookCursor implements agentos.WebhookStore: a compare-and-swap on
// the stored cursor and the audit append, in one BEGIN IMMEDIATE transaction.
func (d *DB) SaveWebhookCursor(ctx context.Context, prev *agentos.WebhookCursor, next agentos.WebhookCursor, evs ...agentos.EventInput) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stored, err := webhookCursor(ctx, tx, next.Endpoint)
	if err != nil {
		return err
	}
	if !agentos.SameWebhookPosition(stored, prev) {
		return agentos.Errorf(agentos.ECONFLICT, "webhook %s: another deliverer moved its cursor; this one stops for it", next.Endpoint)
	}
	if next.Updated.IsZero() {
		next.Updated = d.Now()
	}
	last := ""
	if !next.LastTime.IsZero() {
		last = fmtTime(next.LastTime)
	}
	args := []any{next.Seq, next.Event, next.Attempts, next.LastStatus, next.LastError, next.LastHTTP, last, fmtTime(next.Updated), next.Endpoint}
	if stored == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_cursors (seq, event, attempts, last_status, last_error, last_http, last_time, updated_at, endpoint) VALUES (?,?,?,?,?,?,?,?,?)`, args...)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE webhook_cursors SET seq = ?, event = ?, attempts = ?, last_status = ?, last_error = ?, last_http = ?, last_time = ?, updated_at = ? WHERE endpoint = ?`, args...)
	}
	if err != nil {
		return fmt.Errorf("webhook cursor %s: %w", next.Endpoint, err)
	}
	if _, err := d.appendTx(ctx, tx, evs...); err != nil {
		return err
	}
	return tx.Commit()
}
