package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/jackc/pgx/v5"
)

var _ agentos.WebhookStore = (*DB)(nil)

const webhookCols = `endpoint, seq, event, attempts, last_status, last_error, last_http, last_time, updated_at`

func scanWebhookCursor(r pgx.Row) (agentos.WebhookCursor, error) {
	var c agentos.WebhookCursor
	var last, upd string
	err := r.Scan(&c.Endpoint, &c.Seq, &c.Event, &c.Attempts, &c.LastStatus, &c.LastError, &c.LastHTTP, &last, &upd)
	if last != "" {
		c.LastTime = parseTime(last)
	}
	c.Updated = parseTime(upd)
	return c, err
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func webhookCursor(ctx context.Context, q rowQuerier, endpoint, suffix string) (*agentos.WebhookCursor, error) {
	c, err := scanWebhookCursor(q.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhook_cursors WHERE endpoint = $1`+suffix, endpoint))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webhook cursor %s: %w", endpoint, err)
	}
	return &c, nil
}

// WebhookCursor implements agentos.WebhookStore.
func (d *DB) WebhookCursor(ctx context.Context, endpoint string) (*agentos.WebhookCursor, error) {
	return webhookCursor(ctx, d.pool, endpoint, "")
}

// WebhookCursors implements agentos.WebhookStore.
func (d *DB) WebhookCursors(ctx context.Context) ([]agentos.WebhookCursor, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+webhookCols+` FROM webhook_cursors ORDER BY endpoint`)
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

// SaveWebhookCursor implements agentos.WebhookStore: the stored row is
// locked (FOR UPDATE) or, for a first cursor, inserted only if absent, so
// two deliverers cannot both move it; the audit append comes last, as in
// every transaction that appends.
func (d *DB) SaveWebhookCursor(ctx context.Context, prev *agentos.WebhookCursor, next agentos.WebhookCursor, evs ...agentos.EventInput) error {
	conflict := agentos.Errorf(agentos.ECONFLICT, "webhook %s: another deliverer moved its cursor; this one stops for it", next.Endpoint)
	return d.inTx(ctx, func(tx pgx.Tx) error {
		if next.Updated.IsZero() {
			next.Updated = d.Now()
		}
		last := ""
		if !next.LastTime.IsZero() {
			last = fmtTime(next.LastTime)
		}
		args := []any{next.Seq, next.Event, next.Attempts, next.LastStatus, next.LastError, next.LastHTTP, last, fmtTime(next.Updated), next.Endpoint}
		if prev == nil {
			tag, err := tx.Exec(ctx, `INSERT INTO webhook_cursors (seq, event, attempts, last_status, last_error, last_http, last_time, updated_at, endpoint) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (endpoint) DO NOTHING`, args...)
			if err != nil {
				return fmt.Errorf("webhook cursor %s: %w", next.Endpoint, err)
			}
			if tag.RowsAffected() != 1 {
				return conflict
			}
		} else {
			stored, err := webhookCursor(ctx, tx, next.Endpoint, " FOR UPDATE")
			if err != nil {
				return err
			}
			if !agentos.SameWebhookPosition(stored, prev) {
				return conflict
			}
			if _, err := tx.Exec(ctx, `UPDATE webhook_cursors SET seq = $1, event = $2, attempts = $3, last_status = $4, last_error = $5, last_http = $6, last_time = $7, updated_at = $8 WHERE endpoint = $9`, args...); err != nil {
				return fmt.Errorf("webhook cursor %s: %w", next.Endpoint, err)
			}
		}
		_, err := d.appendTx(ctx, tx, evs...)
		return err
	})
}
