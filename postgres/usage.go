package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/jackc/pgx/v5"
)

// AddUsage implements agentos.UsageStore: the row and its audit event
// commit together.
func (d *DB) AddUsage(ctx context.Context, u agentos.ModelUsage, actor agentos.Actor) (agentos.ModelUsage, error) {
	if err := agentos.CheckUsage(u); err != nil {
		return u, err
	}
	if u.Time.IsZero() {
		u.Time = d.Now()
	}
	u.Time = u.Time.UTC()
	ev := u // the event carries the row as given; the id is the store's
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO usage (task, source, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, tokens, cost_micro_usd, priced, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id`,
			u.Task, u.Source, u.Model, u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.Tokens, u.CostMicroUSD, u.Priced, fmtTime(u.Time)).Scan(&u.ID); err != nil {
			return fmt.Errorf("record usage: %w", err)
		}
		_, err := d.appendTx(ctx, tx, agentos.EventInput{Task: u.Task, Actor: actor, Kind: agentos.EventUsage, Data: ev})
		return err
	})
	return u, err
}

// usageWhere renders f as a WHERE clause.
func usageWhere(f agentos.UsageFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.Task != "" {
		add("task = $%d", f.Task)
	}
	if !f.Since.IsZero() {
		add("created_at >= $%d", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < $%d", fmtTime(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Usage implements agentos.UsageStore.
func (d *DB) Usage(ctx context.Context, f agentos.UsageFilter) ([]agentos.ModelUsage, error) {
	where, args := usageWhere(f)
	rows, err := d.pool.Query(ctx, `SELECT id, task, source, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, tokens, cost_micro_usd, priced, created_at FROM usage`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var out []agentos.ModelUsage
	for rows.Next() {
		var u agentos.ModelUsage
		var at string
		if err := rows.Scan(&u.ID, &u.Task, &u.Source, &u.Model, &u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheWriteTokens, &u.Tokens, &u.CostMicroUSD, &u.Priced, &at); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
		u.Time = parseTime(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

// UsageTotal implements agentos.UsageStore.
func (d *DB) UsageTotal(ctx context.Context, f agentos.UsageFilter) (agentos.UsageTotal, error) {
	where, args := usageWhere(f)
	var t agentos.UsageTotal
	err := d.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(tokens), 0)::BIGINT, coalesce(sum(cost_micro_usd), 0)::BIGINT FROM usage`+where, args...).Scan(&t.Calls, &t.Tokens, &t.CostMicroUSD)
	if err != nil {
		return t, fmt.Errorf("sum usage: %w", err)
	}
	return t, nil
}
