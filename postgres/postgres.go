// Package postgres is the store for many workers on many machines: the same
// tasks, plans, runs, records, packs, approvals, leases and hash-chained
// audit log as package sqlite, in PostgreSQL (pgx/v5, cgo-free). Both pass
// one conformance suite (package storetest).
//
// Transactions run at READ COMMITTED. Where SQLite serialises every writer
// with BEGIN IMMEDIATE, this store takes the one lock each read-then-write
// transaction needs: the audit append row (audit.go), the lease counter row
// (lock.go), a per-task or per-run advisory lock (approvals, step records,
// patches, gate decisions), or the task row itself (Transition). Migrations
// are embedded SQL files applied in order, each in its own transaction,
// under a session advisory lock so several processes may Open at once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open store.
type DB struct {
	pool *pgxpool.Pool
	// URL is the store's URL with its password redacted: safe to print.
	URL string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Redact, when set, is applied to every audit event's data before it is
	// chained: the one choke point for secrets in the audit log.
	Redact func([]byte) []byte
}

// Advisory lock classes (the first key of pg_advisory_*lock(int, int)), one
// per kind of thing serialised, so they never collide with each other.
const (
	lockMigrate int32 = 0x61670001 + iota
	lockApprovals
	lockRunRows
	lockGates
)

// IsURL reports whether s names a PostgreSQL store.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Create connects to the database at rawURL and creates the AgentOS tables
// in it (or migrates them): `agentos init`, the one verb that may make a
// store. Its errors never contain the password.
func Create(ctx context.Context, rawURL string) (*DB, error) {
	return open(ctx, rawURL, true)
}

// Open connects to the database at rawURL (postgres:// or postgresql://)
// and applies pending migrations. It never creates the store: a database
// without the AgentOS tables (dropped, or another database) is ENOTFOUND,
// so a lost store is noticed instead of silently started again. Its errors
// never contain the password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	return open(ctx, rawURL, false)
}

func open(ctx context.Context, rawURL string, create bool) (*DB, error) {
	red := RedactURL(rawURL)
	if !IsURL(rawURL) {
		return nil, agentos.Errorf(agentos.EINVALID, "store URL %s: want postgres://USER@HOST:PORT/DATABASE", red)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL and url.Parse's the whole of it:
		// never pass it on, even scrubbed, beyond what it says is wrong.
		return nil, agentos.WrapError(agentos.EINVALID, scrubbed(err, rawURL), "store URL %s does not parse: %s; want postgres://USER@HOST:PORT/DATABASE", red, scrub(parseReason(err), rawURL))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "cannot open the store %s: %s", red, scrub(err.Error(), rawURL))
	}
	d := &DB{pool: pool, URL: red, Now: time.Now}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "cannot connect to the store %s: %s", red, scrub(err.Error(), rawURL))
	}
	if !create {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			pool.Close()
			return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "cannot read the store %s: %s", red, scrub(err.Error(), rawURL))
		}
		if !exists {
			pool.Close()
			return nil, noTablesError(red)
		}
	}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "store %s: %s", red, scrub(err.Error(), rawURL))
	}
	return d, nil
}

// OpenReadOnly connects for reading only: the store of read verbs. It never
// creates or migrates anything (ENOTFOUND when the database has no AgentOS
// tables, EINVALID when their schema is older than this binary's: a write
// command upgrades it), and every session runs with
// default_transaction_read_only, so PostgreSQL refuses any write.
func OpenReadOnly(ctx context.Context, rawURL string) (*DB, error) {
	red := RedactURL(rawURL)
	if !IsURL(rawURL) {
		return nil, agentos.Errorf(agentos.EINVALID, "store URL %s: want postgres://USER@HOST:PORT/DATABASE", red)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, scrubbed(err, rawURL), "store URL %s does not parse: %s; want postgres://USER@HOST:PORT/DATABASE", red, scrub(parseReason(err), rawURL))
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "cannot open the store %s: %s", red, scrub(err.Error(), rawURL))
	}
	d := &DB{pool: pool, URL: red, Now: time.Now}
	var have *int
	var exists bool
	err = pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists)
	if err == nil && exists {
		err = pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&have)
	}
	if err != nil {
		pool.Close()
		return nil, agentos.WrapError(agentos.EINTERNAL, scrubbed(err, rawURL), "cannot connect to the store %s: %s", red, scrub(err.Error(), rawURL))
	}
	if have == nil {
		pool.Close()
		return nil, noTablesError(red)
	}
	if want := latestMigration(); *have < want {
		pool.Close()
		return nil, agentos.Errorf(agentos.EINVALID, "the store %s is at schema version %d and this agentos reads version %d: run a write command (or `agentos gc`) to upgrade the store", red, *have, want)
	}
	return d, nil
}

func noTablesError(red string) error {
	return agentos.Errorf(agentos.ENOTFOUND, "the store %s has no AgentOS tables: restore them from a backup, or run `agentos init` to create them (a new, empty store)", red)
}

// Identity is the random id the store was created with (store_identity):
// what each repository's .agentos/store.json is checked against.
func (d *DB) Identity(ctx context.Context) (string, error) {
	var id string
	if err := d.pool.QueryRow(ctx, `SELECT store FROM store_identity WHERE id = 1`).Scan(&id); err != nil {
		return "", agentos.WrapError(agentos.ECONFLICT, err, "the store %s has no identity (%v): restore it from a backup, or run `agentos audit verify` to see where it breaks", d.URL, err)
	}
	return id, nil
}

// QuickCheck has nothing to do here: PostgreSQL checks its own pages (and
// data checksums, where the cluster enables them) on every read.
func (d *DB) QuickCheck(ctx context.Context) error { return nil }

// latestMigration is the newest schema version this binary carries.
func latestMigration() int {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	n := 0
	for _, name := range names {
		v, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		n = max(n, v)
	}
	return n
}

// Close closes the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// RedactURL returns rawURL with any password replaced by xxxxx, also when
// it does not parse, so it can be named in an error or a log.
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	s := urlPasswordRe.ReplaceAllString(rawURL, "${1}xxxxx@")
	return queryPasswordRe.ReplaceAllString(s, "${1}xxxxx")
}

var (
	urlPasswordRe   = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)
	queryPasswordRe = regexp.MustCompile(`([?&]password=)[^&]*`)
)

// secrets returns the password as it appears in rawURL, raw and decoded.
func secrets(rawURL string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
			if d, err := url.PathUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
			if d, err := url.QueryUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
		}
	}
	if m := urlPasswordRe.FindStringSubmatch(rawURL); m != nil {
		full := m[0]
		add(strings.TrimSuffix(strings.TrimPrefix(full, m[1]), "@"))
	}
	for _, m := range regexp.MustCompile(`[?&]password=([^&]*)`).FindAllStringSubmatch(rawURL, -1) {
		add(m[1])
	}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	// Longest first, so a password containing another is removed whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// scrub removes every form of rawURL's password, and the URL itself, from s.
func scrub(s, rawURL string) string {
	s = strings.ReplaceAll(s, rawURL, RedactURL(rawURL))
	for _, p := range secrets(rawURL) {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

// scrubbed is err with its text scrubbed, for the cause kept under --debug:
// the original error (and its chain) may quote the URL.
func scrubbed(err error, rawURL string) error {
	return errors.New(scrub(err.Error(), rawURL))
}

// parseReason is what pgx says is wrong with a URL, without the URL.
func parseReason(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if u := errors.Unwrap(pe); u != nil {
			var ue *url.Error
			if errors.As(u, &ue) {
				return ue.Err.Error()
			}
			return u.Error()
		}
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return msg[i+3:]
	}
	return "invalid URL"
}

func (d *DB) migrate(ctx context.Context) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	// A session lock, not a transaction one: it spans one transaction per
	// migration. Two processes opening a fresh database at once wait here
	// rather than both creating the tables.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockMigrate); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, 0)`, lockMigrate)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if err := applyMigration(ctx, conn.Conn(), num, base, name); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, num int, base, name string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, num).Scan(&n); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	// No arguments: the simple protocol, which runs several statements.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, num, base, fmtTime(time.Now())); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	return tx.Commit(ctx)
}

// querier is what the pool and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// inTx runs fn in one READ COMMITTED transaction and commits it.
func (d *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// advisoryXact serialises the rest of tx with every other transaction
// taking the same (class, key) lock; released at commit or rollback.
func advisoryXact(ctx context.Context, tx pgx.Tx, class int32, key string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, class, key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// uniqueViolation reports a duplicate key.
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

const timeFormat = agentos.TimeFormat

func fmtTime(t time.Time) string { return t.UTC().Format(agentos.StoreTimeFormat) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

var _ agentos.Store = (*DB)(nil)
