// Package sqlite is the embedded store: tasks, plans, runs, records, packs and
// the hash-chained audit log in one SQLite file (modernc.org/sqlite, cgo-free).
//
// The database runs in WAL mode with a busy timeout; every read-then-write
// transaction starts with BEGIN IMMEDIATE so two processes never both decide
// on the same stale read. Migrations are embedded SQL files applied in order,
// each in its own transaction. OpenReadOnly is the store of read verbs: it
// never creates, migrates or writes anything.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"modernc.org/sqlite" // also registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open store.
type DB struct {
	db   *sql.DB
	Path string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Redact, when set, is applied to every audit event's data before it is
	// chained: the one choke point for secrets in the audit log.
	Redact func([]byte) []byte
}

// Create opens the store at path for `agentos init`, the one verb that may
// make a store: a missing file, or a file without the AgentOS schema (an
// empty or zero-length one), becomes a new store with a new identity; an
// existing store is opened and migrated like Open.
func Create(ctx context.Context, path string) (*DB, error) {
	return open(ctx, path, true)
}

// Open opens the existing store at path read-write and applies pending
// migrations. It never creates a store: a missing file is ENOTFOUND, and so
// is a file without the AgentOS schema (truncated to nothing, or replaced by
// an empty database) — only `agentos init` (Create) makes one, so a lost
// store is noticed instead of silently started again.
func Open(ctx context.Context, path string) (*DB, error) {
	return open(ctx, path, false)
}

func open(ctx context.Context, path string, create bool) (*DB, error) {
	q := url.Values{}
	if !create {
		// rw, not rwc: SQLite itself refuses to create a missing file.
		q.Set("mode", "rw")
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// NORMAL in WAL mode: a committed transaction survives any crash of
	// AgentOS (kill -9, OOM, panic): it is in the WAL before COMMIT returns.
	// A power loss or OS crash may roll back the last transactions; FULL
	// would prevent that at 1.1-1.3x the time of a run (an fsync per
	// transaction), while git's own objects are not synced either, so the
	// pair would still not be power-safe. The store anchor and `audit
	// verify` (commit trailers) detect such a loss (docs/store.md).
	q.Add("_pragma", "synchronous(NORMAL)")
	// With the WAL kept (persistWAL), the last writer to close truncates it
	// to zero bytes instead of leaving a checkpointed WAL's size on disk.
	q.Add("_pragma", "journal_size_limit(67108864)")
	// _txlock=immediate makes every BeginTx a BEGIN IMMEDIATE: our
	// transactions read then write, and deferred ones deadlock into
	// SQLITE_BUSY under concurrency instead of waiting.
	q.Set("_txlock", "immediate")
	if !create {
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, missingError(path)
			}
			return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the AgentOS store: %v", err)
		}
		if st.Size() == 0 {
			// Before connecting: journal_mode(WAL) would write a header.
			return nil, emptyError(path)
		}
	}
	base, err := sqlite.NewConnector("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sdb := sql.OpenDB(persistWAL{base})
	sdb.SetMaxOpenConns(8)
	d := &DB{db: sdb, Path: path, Now: time.Now}
	if !create {
		if err := d.checkNotEmpty(ctx); err != nil {
			sdb.Close()
			return nil, err
		}
	}
	if err := d.migrate(ctx); err != nil {
		sdb.Close()
		return nil, d.damaged(err)
	}
	return d, nil
}

func missingError(path string) error {
	return agentos.Errorf(agentos.ENOTFOUND, "the AgentOS store %s is missing: restore it from a backup, or run `agentos init --new-store` to start a new one (the audit history is lost)", path)
}

// checkNotEmpty refuses a database without the AgentOS schema: a store
// truncated to nothing or replaced by an empty file is not a store to
// migrate into a new, empty one.
func (d *DB) checkNotEmpty(ctx context.Context) error {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil {
		return d.damaged(err)
	}
	if n == 0 {
		return emptyError(d.Path)
	}
	return nil
}

func emptyError(path string) error {
	return agentos.Errorf(agentos.ENOTFOUND, "the AgentOS store %s is empty (truncated, or replaced by an empty database): restore it from a backup, or run `agentos init --new-store` to start a new one (the audit history is lost)", path)
}

// damaged names a store SQLite cannot read as one: not a database, or a
// malformed one.
func (d *DB) damaged(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "not a database") || strings.Contains(msg, "malformed") || strings.Contains(msg, "(11)") || strings.Contains(msg, "(26)") {
		return agentos.WrapError(agentos.ECONFLICT, err, "the AgentOS store %s is damaged (%v): restore it from a backup, or run `agentos audit verify` to see where it breaks", d.Path, err)
	}
	return err
}

// Identity is the random id the store was created with (store_identity):
// what the repository's .agentos/store.json is checked against.
func (d *DB) Identity(ctx context.Context) (string, error) {
	var id string
	err := d.db.QueryRowContext(ctx, `SELECT store FROM store_identity WHERE id = 1`).Scan(&id)
	if err != nil {
		if _, ok := d.damaged(err).(*agentos.Error); ok {
			return "", d.damaged(err)
		}
		return "", agentos.WrapError(agentos.ECONFLICT, err, "the AgentOS store %s has no identity (%v): restore it from a backup, or run `agentos audit verify` to see where it breaks", d.Path, err)
	}
	return id, nil
}

// QuickCheck is SQLite's PRAGMA quick_check: every page and b-tree of the
// file is well formed (not every index entry, which integrity_check adds
// at several times the cost). It reads the whole file: a run calls it once,
// before apply, not every command.
func (d *DB) QuickCheck(ctx context.Context) error {
	rows, err := d.db.QueryContext(ctx, `PRAGMA quick_check(5)`)
	if err != nil {
		return d.damaged(err)
	}
	defer rows.Close()
	var probs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return d.damaged(err)
		}
		if s != "ok" {
			probs = append(probs, s)
		}
	}
	if err := rows.Err(); err != nil {
		return d.damaged(err)
	}
	if len(probs) > 0 {
		return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store %s is damaged (quick_check: %s): restore it from a backup, or run `agentos audit verify` to see where it breaks", d.Path, strings.Join(probs, "; "))
	}
	return nil
}

// persistWAL keeps the -wal and -shm files when the last connection closes.
// A read-only open of a WAL database whose -wal is gone would create both
// (SQLite needs them to read), so a read verb would leave files behind and
// could not read a store in a directory it may not write.
type persistWAL struct{ driver.Connector }

func (p persistWAL) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := p.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	fc, ok := conn.(sqlite.FileControl)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite: the driver's connection has no file control")
	}
	if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: keep the WAL: %w", err)
	}
	return conn, nil
}

// OpenReadOnly opens the existing database at path for reading only: the
// store of read verbs. It never creates the file (ENOTFOUND when it is
// missing), never migrates (EINVALID when the schema is older than this
// binary's: a write command upgrades it), and SQLite refuses every write on
// it. It reads concurrent writers' committed transactions as they land (no
// immutable=1, which would skip the WAL and its locks).
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, missingError(path)
		}
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the AgentOS store: %v", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	sdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(8)
	d := &DB{db: sdb, Path: path, Now: time.Now}
	have, want, err := d.schemaVersion(ctx)
	if err != nil {
		sdb.Close()
		return nil, d.damaged(err)
	}
	if have == 0 {
		sdb.Close()
		return nil, emptyError(path)
	}
	if have < want {
		sdb.Close()
		return nil, agentos.Errorf(agentos.EINVALID, "the AgentOS store %s is at schema version %d and this agentos reads version %d: run a write command (or `agentos gc`) to upgrade the store", path, have, want)
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// BeginImmediate starts a write transaction (BEGIN IMMEDIATE).
func (d *DB) BeginImmediate(ctx context.Context) (*sql.Tx, error) {
	return d.db.BeginTx(ctx, nil)
}

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := d.applyMigration(ctx, m.num, m.base, m.name); err != nil {
			return err
		}
	}
	return nil
}

type migration struct {
	num        int
	base, name string
}

// migrations lists the embedded migrations in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", base)
		}
		out = append(out, migration{num, base, name})
	}
	return out, nil
}

// schemaVersion returns how many of this binary's migrations the database
// has applied and how many there are. A database without the
// schema_migrations table has applied none.
func (d *DB) schemaVersion(ctx context.Context) (have, want int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	var n int
	err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil {
		return 0, 0, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the AgentOS store %s: %v", d.Path, err)
	}
	if n == 0 {
		return 0, len(ms), nil
	}
	applied := map[int]bool{}
	rows, err := d.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return 0, 0, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the schema version of %s: %v", d.Path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return 0, 0, err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	// The version is the count of this binary's migrations applied in
	// order: a gap (one missing in the middle) is behind too.
	for _, m := range ms {
		if !applied[m.num] {
			break
		}
		have++
	}
	return have, len(ms), nil
}

func (d *DB) applyMigration(ctx context.Context, num int, base, name string) error {
	tx, err := d.BeginImmediate(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, num).Scan(&n); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, num, base, fmtTime(time.Now())); err != nil {
		return fmt.Errorf("migrate %s: %w", base, err)
	}
	return tx.Commit()
}

var _ agentos.Store = (*DB)(nil)
