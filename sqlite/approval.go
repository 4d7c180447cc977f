package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentos/agentos"
)

// RecordApproval implements agentos.ApprovalStore: decide sees the active
// approvals and the insert and its audit events commit together.
func (d *DB) RecordApproval(ctx context.Context, a agentos.Approval, decide func(active []agentos.Approval) (bool, error), evs ...agentos.EventInput) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	active, err := queryApprovals(ctx, tx, `WHERE task = ? AND cleared_at = '' ORDER BY id`, a.Task)
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (task, kind, plan_id, plan_hash, base_commit, policy_hash, memory_hash, actor, comment, rules, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		a.Task, a.Kind, a.PlanID, a.PlanHash, a.Binding.Base, a.Binding.PolicyHash, a.Binding.MemoryHash, a.Actor, a.Comment, string(rj), fmtTime(d.Now())); err != nil {
		return fmt.Errorf("record %s: %w", a.Kind, err)
	}
	if _, err := d.appendTx(ctx, tx, evs...); err != nil {
		return err
	}
	return tx.Commit()
}

// ActiveApprovals implements agentos.ApprovalStore.
func (d *DB) ActiveApprovals(ctx context.Context, task string) ([]agentos.Approval, error) {
	return queryApprovals(ctx, d.db, `WHERE task = ? AND cleared_at = '' ORDER BY id`, task)
}

// Approvals implements agentos.ApprovalStore.
func (d *DB) Approvals(ctx context.Context, task string) ([]agentos.Approval, error) {
	return queryApprovals(ctx, d.db, `WHERE task = ? ORDER BY id`, task)
}

// ClearApprovals implements agentos.ApprovalStore.
func (d *DB) ClearApprovals(ctx context.Context, task, keep, why string) (int, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE approvals SET cleared_at = ?, cleared_why = ? WHERE task = ? AND cleared_at = '' AND plan_hash != ?`, fmtTime(d.Now()), why, task, keep)
	if err != nil {
		return 0, fmt.Errorf("clear approvals: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func queryApprovals(ctx context.Context, q querier, where string, args ...any) ([]agentos.Approval, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, task, kind, plan_id, plan_hash, base_commit, policy_hash, memory_hash, actor, comment, rules, created_at, cleared_at, cleared_why FROM approvals `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	defer rows.Close()
	var out []agentos.Approval
	for rows.Next() {
		var a agentos.Approval
		var rules, created, cleared string
		if err := rows.Scan(&a.ID, &a.Task, &a.Kind, &a.PlanID, &a.PlanHash, &a.Binding.Base, &a.Binding.PolicyHash, &a.Binding.MemoryHash, &a.Actor, &a.Comment, &rules, &created, &cleared, &a.Cleared); err != nil {
			return nil, fmt.Errorf("read approvals: %w", err)
		}
		_ = json.Unmarshal([]byte(rules), &a.Rules)
		a.Time = parseTime(created)
		if cleared != "" {
			a.ClearedAt = parseTime(cleared)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
