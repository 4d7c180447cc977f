package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

const leaseCols = `key, lease, owner, token, acquired_at, heartbeat_at, expires_at`

// AcquireLease implements agentos.LeaseStore in one BEGIN IMMEDIATE
// transaction: read the conflicting holders, let decide choose, take over,
// insert with the next fencing token.
func (d *DB) AcquireLease(ctx context.Context, l agentos.Lease, decide func(holders []agentos.Lease) ([]agentos.Lease, error)) (agentos.Lease, error) {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return agentos.Lease{}, fmt.Errorf("lock: begin: %w", err)
	}
	defer tx.Rollback()
	held, err := overlapping(ctx, tx, l.Keys, l.Acquired)
	if err != nil {
		return agentos.Lease{}, err
	}
	taken, err := decide(held)
	if err != nil {
		return agentos.Lease{}, err
	}
	for _, t := range taken {
		if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lease = ?`, t.ID); err != nil {
			return agentos.Lease{}, fmt.Errorf("lock: take over %s: %w", t.ID, err)
		}
	}
	if err := tx.QueryRowContext(ctx, `UPDATE lease_counter SET last = last + 1 WHERE id = 1 RETURNING last`).Scan(&l.Token); err != nil {
		return agentos.Lease{}, fmt.Errorf("lock: fencing token: %w", err)
	}
	if err := insertLease(ctx, tx, l); err != nil {
		return agentos.Lease{}, err
	}
	if err := tx.Commit(); err != nil {
		return agentos.Lease{}, fmt.Errorf("lock: commit: %w", err)
	}
	return l, nil
}

// overlapping returns every lease holding a key that conflicts with one of
// keys. Non-file keys are looked up exactly; for file keys every file lock
// on their targets is read (one range scan per target; a lock table holds
// the paths of the running tasks only) and compared in Go, so a directory
// and the paths under it are seen in both directions.
func overlapping(ctx context.Context, tx *sql.Tx, keys []string, now time.Time) ([]agentos.Lease, error) {
	leaseIDs := map[string]bool{}
	var exact []any
	targets := map[string]bool{}
	for _, k := range keys {
		p, ok := agentos.LockFilePath(k)
		if !ok {
			exact = append(exact, k)
			continue
		}
		targets[strings.TrimSuffix(k, p)] = true
	}
	scan := func(q string, args []any, filter func(key string) bool) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("lock: read holders: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, id string
			if err := rows.Scan(&key, &id); err != nil {
				return fmt.Errorf("lock: read holders: %w", err)
			}
			if filter(key) {
				leaseIDs[id] = true
			}
		}
		return rows.Err()
	}
	const chunk = 500
	for i := 0; i < len(exact); i += chunk {
		part := exact[i:min(i+chunk, len(exact))]
		if err := scan(`SELECT key, lease FROM locks WHERE key IN (?`+strings.Repeat(",?", len(part)-1)+`)`, part, func(string) bool { return true }); err != nil {
			return nil, err
		}
	}
	for prefix := range targets {
		// "file:T:" < key < "file:T;" (';' sorts right after ':').
		hi := strings.TrimSuffix(prefix, ":") + ";"
		err := scan(`SELECT key, lease FROM locks WHERE key > ? AND key < ?`, []any{prefix, hi}, func(key string) bool {
			return slices.ContainsFunc(keys, func(k string) bool { return agentos.LockKeysConflict(k, key) })
		})
		if err != nil {
			return nil, err
		}
	}
	var out []agentos.Lease
	for _, id := range slices.Sorted(maps.Keys(leaseIDs)) {
		l, err := readLease(ctx, tx, id, now)
		if err != nil {
			return nil, err
		}
		if l != nil {
			out = append(out, *l)
		}
	}
	return out, nil
}

// readLease reads one lease; nil when it holds no key.
func readLease(ctx context.Context, q querier, id string, now time.Time) (*agentos.Lease, error) {
	ls, err := scanLeases(ctx, q, now, `SELECT `+leaseCols+` FROM locks WHERE lease = ? ORDER BY key`, id)
	if err != nil || len(ls) == 0 {
		return nil, err
	}
	return &ls[0], nil
}

// scanLeases groups rows into leases, in order of first appearance.
func scanLeases(ctx context.Context, q querier, now time.Time, query string, args ...any) ([]agentos.Lease, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("lock: read: %w", err)
	}
	defer rows.Close()
	g := agentos.LeaseGrouper{Now: now}
	for rows.Next() {
		var r agentos.LeaseRow
		if err := rows.Scan(&r.Key, &r.Lease, &r.Owner, &r.Token, &r.Acquired, &r.Heartbeat, &r.Expires); err != nil {
			return nil, fmt.Errorf("lock: read: %w", err)
		}
		g.Add(r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock: read: %w", err)
	}
	return g.Leases(), nil
}

func insertLease(ctx context.Context, tx *sql.Tx, l agentos.Lease) error {
	const chunk = 140 // 7 parameters a row, well under SQLite's limit
	for i := 0; i < len(l.Keys); i += chunk {
		part := l.Keys[i:min(i+chunk, len(l.Keys))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO locks (` + leaseCols + `) VALUES `)
		args := make([]any, 0, 7*len(part))
		for j, k := range part {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?)")
			args = append(args, k, l.ID, l.Owner, l.Token, l.Acquired.UnixNano(), l.Heartbeat.UnixNano(), l.Expires.UnixNano())
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("lock: insert %s: %w", l.ID, err)
		}
	}
	return nil
}

// RenewLease implements agentos.LeaseStore.
func (d *DB) RenewLease(ctx context.Context, id string, heartbeat, expires time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE lease = ?`, heartbeat.UnixNano(), expires.UnixNano(), id)
	if err != nil {
		return false, fmt.Errorf("lock: heartbeat %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ReleaseLease implements agentos.LeaseStore.
func (d *DB) ReleaseLease(ctx context.Context, id string) (bool, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM locks WHERE lease = ?`, id)
	if err != nil {
		return false, fmt.Errorf("lock: release %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ForceReleaseLease implements agentos.LeaseStore: the removal and its
// audit event commit together.
func (d *DB) ForceReleaseLease(ctx context.Context, id string, ev func(agentos.Lease) agentos.EventInput) (*agentos.Lease, error) {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock: begin: %w", err)
	}
	defer tx.Rollback()
	l, err := readLease(ctx, tx, id, d.Now())
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no lock %s: run `agentos lock list` for the held ones", id)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lease = ?`, id); err != nil {
		return nil, fmt.Errorf("lock: release %s: %w", id, err)
	}
	if ev != nil {
		if _, err := d.appendTx(ctx, tx, ev(*l)); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("lock: commit: %w", err)
	}
	return l, nil
}

// Lease implements agentos.LeaseStore.
func (d *DB) Lease(ctx context.Context, id string, now time.Time) (*agentos.Lease, error) {
	return readLease(ctx, d.db, id, now)
}

// LeaseHolding implements agentos.LeaseStore.
func (d *DB) LeaseHolding(ctx context.Context, key string, now time.Time) (*agentos.Lease, error) {
	var id string
	err := d.db.QueryRowContext(ctx, `SELECT lease FROM locks WHERE key = ?`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: read %s: %w", key, err)
	}
	return readLease(ctx, d.db, id, now)
}

// Leases implements agentos.LeaseStore.
func (d *DB) Leases(ctx context.Context, now time.Time, onlyExpired bool) ([]agentos.Lease, error) {
	if onlyExpired {
		return scanLeases(ctx, d.db, now, `SELECT `+leaseCols+` FROM locks WHERE lease IN (SELECT lease FROM locks WHERE expires_at <= ?) ORDER BY acquired_at, lease, key`, now.UnixNano())
	}
	return scanLeases(ctx, d.db, now, `SELECT `+leaseCols+` FROM locks ORDER BY acquired_at, lease, key`)
}
