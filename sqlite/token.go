package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

var _ agentos.TokenStore = (*DB)(nil)

const tokenCols = `id, name, actor, role, hash, created_at, created_by, expires_at, revoked_at, revoked_by`

// SaveToken implements agentos.TokenStore.
func (d *DB) SaveToken(ctx context.Context, t agentos.APIToken, ev agentos.EventInput) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		t.ID, t.Name, string(t.Actor), t.Role, t.Hash, fmtTime(t.CreatedAt), string(t.CreatedBy), optTime(t.ExpiresAt), optTime(t.RevokedAt), string(t.RevokedBy)); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return agentos.Errorf(agentos.ECONFLICT, "token %s exists", t.ID)
		}
		return fmt.Errorf("save token: %w", err)
	}
	if _, err := d.appendTx(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit()
}

// APITokens implements agentos.TokenStore.
func (d *DB) APITokens(ctx context.Context) ([]agentos.APIToken, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agentos.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// TokenByHash implements agentos.TokenStore.
func (d *DB) TokenByHash(ctx context.Context, hash string) (*agentos.APIToken, error) {
	t, err := scanToken(d.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no such token")
	}
	return t, err
}

// RevokeToken implements agentos.TokenStore.
func (d *DB) RevokeToken(ctx context.Context, id string, at time.Time, by agentos.Actor, ev func(agentos.APIToken) agentos.EventInput) (*agentos.APIToken, error) {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no token %s: `agentos token list` shows them", id)
	}
	if err != nil {
		return nil, err
	}
	if !t.RevokedAt.IsZero() {
		return nil, agentos.Errorf(agentos.ECONFLICT, "token %s was already revoked at %s by %s", id, t.RevokedAt.Format(time.RFC3339), t.RevokedBy)
	}
	t.RevokedAt, t.RevokedBy = at.UTC(), by
	if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`, fmtTime(at), string(by), id); err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	if _, err := d.appendTx(ctx, tx, ev(*t)); err != nil {
		return nil, err
	}
	return t, tx.Commit()
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

func scanToken(r interface{ Scan(...any) error }) (*agentos.APIToken, error) {
	var t agentos.APIToken
	var actor, created, by, expires, revoked, revBy string
	if err := r.Scan(&t.ID, &t.Name, &actor, &t.Role, &t.Hash, &created, &by, &expires, &revoked, &revBy); err != nil {
		return nil, err
	}
	t.Actor, t.CreatedBy, t.RevokedBy = agentos.Actor(actor), agentos.Actor(by), agentos.Actor(revBy)
	t.CreatedAt = parseTime(created)
	if expires != "" {
		t.ExpiresAt = parseTime(expires)
	}
	if revoked != "" {
		t.RevokedAt = parseTime(revoked)
	}
	return &t, nil
}
