package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/jackc/pgx/v5"
)

// RecordApproval implements agentos.ApprovalStore: decide sees the active
// approvals and the insert and its audit events commit together. A per-task
// advisory lock serialises approvals of one task, so two approvers racing
// never both decide on the same active set (SQLite gets this from BEGIN
// IMMEDIATE).
func (d *DB) RecordApproval(ctx context.Context, a agentos.Approval, decide func(active []agentos.Approval) (bool, error), evs ...agentos.EventInput) error {
	return d.inTx(ctx, func(tx pgx.Tx) error {
		if err := advisoryXact(ctx, tx, lockApprovals, a.Task); err != nil {
			return err
		}
		active, err := queryApprovals(ctx, tx, `WHERE task = $1 AND cleared_at = '' ORDER BY id`, a.Task)
		if err != nil {
			return err
		}
		ok, err := decide(active)
		if err != nil || !ok {
			return err
		}
		rules := a.Rules
		if rules == nil {
			rules = []string{}
		}
		rj, _ := json.Marshal(rules)
		if _, err := tx.Exec(ctx, `INSERT INTO approvals (task, kind, plan_id, plan_hash, base_commit, policy_hash, memory_hash, actor, comment, rules, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
			a.Task, string(a.Kind), a.PlanID, a.PlanHash, a.Binding.Base, a.Binding.PolicyHash, a.Binding.MemoryHash, string(a.Actor), a.Comment, string(rj), fmtTime(d.Now())); err != nil {
			return fmt.Errorf("record %s: %w", a.Kind, err)
		}
		_, err = d.appendTx(ctx, tx, evs...)
		return err
	})
}

// ActiveApprovals implements agentos.ApprovalStore.
func (d *DB) ActiveApprovals(ctx context.Context, task string) ([]agentos.Approval, error) {
	return queryApprovals(ctx, d.pool, `WHERE task = $1 AND cleared_at = '' ORDER BY id`, task)
}

// Approvals implements agentos.ApprovalStore.
func (d *DB) Approvals(ctx context.Context, task string) ([]agentos.Approval, error) {
	return queryApprovals(ctx, d.pool, `WHERE task = $1 ORDER BY id`, task)
}

// ClearApprovals implements agentos.ApprovalStore.
func (d *DB) ClearApprovals(ctx context.Context, task, keep, why string) (int, error) {
	tag, err := d.pool.Exec(ctx, `UPDATE approvals SET cleared_at = $1, cleared_why = $2 WHERE task = $3 AND cleared_at = '' AND plan_hash != $4`, fmtTime(d.Now()), why, task, keep)
	if err != nil {
		return 0, fmt.Errorf("clear approvals: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func queryApprovals(ctx context.Context, q querier, where string, args ...any) ([]agentos.Approval, error) {
	rows, err := q.Query(ctx, `SELECT id, task, kind, plan_id, plan_hash, base_commit, policy_hash, memory_hash, actor, comment, rules, created_at, cleared_at, cleared_why FROM approvals `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	defer rows.Close()
	var out []agentos.Approval
	for rows.Next() {
		var a agentos.Approval
		var kind, actor, rules, created, cleared string
		if err := rows.Scan(&a.ID, &a.Task, &kind, &a.PlanID, &a.PlanHash, &a.Binding.Base, &a.Binding.PolicyHash, &a.Binding.MemoryHash, &actor, &a.Comment, &rules, &created, &cleared, &a.Cleared); err != nil {
			return nil, fmt.Errorf("read approvals: %w", err)
		}
		a.Kind, a.Actor = agentos.ApprovalKind(kind), agentos.Actor(actor)
		_ = json.Unmarshal([]byte(rules), &a.Rules)
		a.Time = parseTime(created)
		if cleared != "" {
			a.ClearedAt = parseTime(cleared)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
