package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/jackc/pgx/v5"
)

const leaseCols = `key, lease, owner, token, acquired_at, heartbeat_at, expires_at`

// AcquireLease implements agentos.LeaseStore in one transaction: lock the
// lease counter, read the conflicting holders, let decide choose, take over,
// insert with the next fencing token.
//
// Every writer of the locks table (acquire, renew, release, force release)
// first locks the one lease_counter row, so they run one at a time, as
// under SQLite's BEGIN IMMEDIATE. Without it two acquirers of overlapping
// file keys (a directory and a file under it: different rows, no unique key
// between them) could both read "no holder" and both insert; a heartbeat
// could renew a lease between an acquirer's read of it as expired and its
// takeover; and row locks taken in different orders by a release and an
// acquisition could deadlock. It also makes fencing tokens follow commit
// order. Lease writes are short, so one queue costs little.
func lockLeases(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT last FROM lease_counter WHERE id = 1 FOR UPDATE`); err != nil {
		return fmt.Errorf("lock: serialise: %w", err)
	}
	return nil
}

func (d *DB) AcquireLease(ctx context.Context, l agentos.Lease, decide func(holders []agentos.Lease) ([]agentos.Lease, error)) (agentos.Lease, error) {
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLeases(ctx, tx); err != nil {
			return err
		}
		held, err := overlapping(ctx, tx, l.Keys, l.Acquired)
		if err != nil {
			return err
		}
		taken, err := decide(held)
		if err != nil {
			return err
		}
		for _, t := range taken {
			if _, err := tx.Exec(ctx, `DELETE FROM locks WHERE lease = $1`, t.ID); err != nil {
				return fmt.Errorf("lock: take over %s: %w", t.ID, err)
			}
		}
		if err := tx.QueryRow(ctx, `UPDATE lease_counter SET last = last + 1 WHERE id = 1 RETURNING last`).Scan(&l.Token); err != nil {
			return fmt.Errorf("lock: fencing token: %w", err)
		}
		return insertLease(ctx, tx, l)
	})
	if err != nil {
		return agentos.Lease{}, err
	}
	return l, nil
}

// overlapping returns every lease holding a key that conflicts with one of
// keys: non-file keys exactly, file keys by reading every file lock on their
// targets and comparing in Go, so a directory and the paths under it are
// seen in both directions.
func overlapping(ctx context.Context, tx pgx.Tx, keys []string, now time.Time) ([]agentos.Lease, error) {
	leaseIDs := map[string]bool{}
	var exact []string
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
		rows, err := tx.Query(ctx, q, args...)
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
	if len(exact) > 0 {
		if err := scan(`SELECT key, lease FROM locks WHERE key = ANY($1)`, []any{exact}, func(string) bool { return true }); err != nil {
			return nil, err
		}
	}
	for prefix := range targets {
		err := scan(`SELECT key, lease FROM locks WHERE key LIKE $1 ESCAPE '\'`, []any{escapeLike(prefix) + "%"}, func(key string) bool {
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
	ls, err := scanLeases(ctx, q, now, `SELECT `+leaseCols+` FROM locks WHERE lease = $1 ORDER BY key`, id)
	if err != nil || len(ls) == 0 {
		return nil, err
	}
	return &ls[0], nil
}

// scanLeases groups rows into leases, in order of first appearance.
func scanLeases(ctx context.Context, q querier, now time.Time, query string, args ...any) ([]agentos.Lease, error) {
	rows, err := q.Query(ctx, query, args...)
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

// insertLease stores one row per key in a single statement (unnest of the
// key array), however many keys the lease holds.
func insertLease(ctx context.Context, tx pgx.Tx, l agentos.Lease) error {
	_, err := tx.Exec(ctx, `INSERT INTO locks (`+leaseCols+`) SELECT k, $2, $3, $4, $5, $6, $7 FROM unnest($1::text[]) AS k`,
		l.Keys, l.ID, l.Owner, l.Token, l.Acquired.UnixNano(), l.Heartbeat.UnixNano(), l.Expires.UnixNano())
	if err != nil {
		return fmt.Errorf("lock: insert %s: %w", l.ID, err)
	}
	return nil
}

// RenewLease implements agentos.LeaseStore.
func (d *DB) RenewLease(ctx context.Context, id string, heartbeat, expires time.Time) (bool, error) {
	var n int64
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLeases(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE locks SET heartbeat_at = $1, expires_at = $2 WHERE lease = $3`, heartbeat.UnixNano(), expires.UnixNano(), id)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lock: heartbeat %s: %w", id, err)
	}
	return n > 0, nil
}

// ReleaseLease implements agentos.LeaseStore.
func (d *DB) ReleaseLease(ctx context.Context, id string) (bool, error) {
	var n int64
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLeases(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM locks WHERE lease = $1`, id)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lock: release %s: %w", id, err)
	}
	return n > 0, nil
}

// ForceReleaseLease implements agentos.LeaseStore: the removal and its
// audit event commit together.
func (d *DB) ForceReleaseLease(ctx context.Context, id string, ev func(agentos.Lease) agentos.EventInput) (*agentos.Lease, error) {
	var l *agentos.Lease
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if err := lockLeases(ctx, tx); err != nil {
			return err
		}
		l, err = readLease(ctx, tx, id, d.Now())
		if err != nil {
			return err
		}
		if l == nil {
			return agentos.Errorf(agentos.ENOTFOUND, "no lock %s: run `agentos lock list` for the held ones", id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM locks WHERE lease = $1`, id); err != nil {
			return fmt.Errorf("lock: release %s: %w", id, err)
		}
		if ev != nil {
			if _, err := d.appendTx(ctx, tx, ev(*l)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Lease implements agentos.LeaseStore.
func (d *DB) Lease(ctx context.Context, id string, now time.Time) (*agentos.Lease, error) {
	return readLease(ctx, d.pool, id, now)
}

// LeaseHolding implements agentos.LeaseStore.
func (d *DB) LeaseHolding(ctx context.Context, key string, now time.Time) (*agentos.Lease, error) {
	var id string
	err := d.pool.QueryRow(ctx, `SELECT lease FROM locks WHERE key = $1`, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: read %s: %w", key, err)
	}
	return readLease(ctx, d.pool, id, now)
}

// Leases implements agentos.LeaseStore.
func (d *DB) Leases(ctx context.Context, now time.Time, onlyExpired bool) ([]agentos.Lease, error) {
	if onlyExpired {
		return scanLeases(ctx, d.pool, now, `SELECT `+leaseCols+` FROM locks WHERE lease IN (SELECT lease FROM locks WHERE expires_at <= $1) ORDER BY acquired_at, lease, key`, now.UnixNano())
	}
	return scanLeases(ctx, d.pool, now, `SELECT `+leaseCols+` FROM locks ORDER BY acquired_at, lease, key`)
}
