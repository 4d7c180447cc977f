package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Only Create makes a store: Open and OpenReadOnly refuse a missing file or
// one without the AgentOS schema, and leave it as it was.
func TestEmptyStoreIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "agentos.db")
	for _, open := range []func(context.Context, string) (*DB, error){Open, OpenReadOnly} {
		if _, err := open(ctx, path); agentos.ErrorCode(err) != agentos.ENOTFOUND || !strings.Contains(agentos.ErrorMessage(err), "is missing: restore it") {
			t.Fatalf("open of a missing store = %v", err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("opening a missing store created it")
		}
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(context.Context, string) (*DB, error){Open, OpenReadOnly} {
		_, err := open(ctx, path)
		if agentos.ErrorCode(err) != agentos.ENOTFOUND || !strings.Contains(agentos.ErrorMessage(err), "is empty") || !strings.Contains(agentos.ErrorMessage(err), "agentos init") {
			t.Fatalf("open of a truncated store = %v", err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != 0 {
			t.Fatalf("opening a truncated store wrote to it: %v %v", st, err)
		}
	}
	// init (Create) starts a new store over it, with an identity.
	db, err := Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	id1, err := db.Identity(ctx)
	db.Close()
	if err != nil || len(id1) != 32 {
		t.Fatalf("identity = %q, %v", id1, err)
	}
	other, err := Create(ctx, filepath.Join(dir, "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := other.Identity(ctx)
	other.Close()
	if id2 == id1 {
		t.Fatalf("two stores share the identity %s", id1)
	}
	// Reopened, the identity is the one it was made with.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if id, _ := db.Identity(ctx); id != id1 {
		t.Fatalf("identity after reopen = %s, want %s", id, id1)
	}
}

// A file that is not a database, or whose pages were overwritten, is named
// damaged (ECONFLICT) with how to restore it: by the open, or by
// QuickCheck before apply.
func TestDamagedStoreIsNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database at all ", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(context.Context, string) (*DB, error){Open, OpenReadOnly} {
		if _, err := open(ctx, junk); agentos.ErrorCode(err) != agentos.ECONFLICT || !strings.Contains(agentos.ErrorMessage(err), "is damaged") || !strings.Contains(agentos.ErrorMessage(err), "restore it from a backup") {
			t.Fatalf("open of a non-database = %v", err)
		}
	}

	path := filepath.Join(dir, "agentos.db")
	db, err := Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	seedEvents(t, db, 400)
	if err := db.QuickCheck(ctx); err != nil {
		t.Fatalf("QuickCheck of a whole store: %v", err)
	}
	// Checkpoint everything into the main file, then scribble over its last
	// page (a b-tree page of the audit table: the file has no free pages).
	if _, err := db.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), st.Size()-4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err = Open(ctx, path)
	if err == nil {
		err = db.QuickCheck(ctx)
		db.Close()
	}
	if agentos.ErrorCode(err) != agentos.ECONFLICT || !strings.Contains(agentos.ErrorMessage(err), "is damaged") || !strings.Contains(agentos.ErrorMessage(err), "agentos audit verify") {
		t.Fatalf("open + QuickCheck of a store with a scribbled page = %v", err)
	}
}
