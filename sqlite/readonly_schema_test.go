package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// A store older than the binary is not migrated by a read: the read-only
// open names the way to upgrade it, and changes nothing. (A database with no
// AgentOS schema at all is an empty store, refused by every open:
// TestEmptyStoreIsRefused.)
func TestOpenReadOnlyRefusesAnOlderSchema(t *testing.T) {
	ctx := context.Background()
	ms, err := migrations()
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d, %v", len(ms), err)
	}
	for _, tc := range []struct {
		name    string
		applied int // how many of the binary's migrations the store has
	}{
		{"first migration only", 1},
		{"all but the last", len(ms) - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agentos.db")
			raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(`CREATE TABLE unrelated (x)`); err != nil {
				t.Fatal(err)
			}
			{
				d := &DB{db: raw, Path: path}
				if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
					t.Fatal(err)
				}
				for _, m := range ms[:tc.applied] {
					if err := d.applyMigration(ctx, m.num, m.base, m.name); err != nil {
						t.Fatal(err)
					}
				}
			}
			raw.Close()
			before := fileState(t, path)
			_, err = OpenReadOnly(ctx, path)
			if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(agentos.ErrorMessage(err), "run a write command (or `agentos gc`) to upgrade the store") {
				t.Fatalf("OpenReadOnly of an older store = %v", err)
			}
			if after := fileState(t, path); before["agentos.db"] != after["agentos.db"] {
				t.Fatalf("the refused read-only open changed the database")
			}
			// A write command's open migrates it; then reads work.
			w, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			r, err := OpenReadOnly(ctx, path)
			if err != nil {
				t.Fatalf("OpenReadOnly after the upgrade: %v", err)
			}
			r.Close()
		})
	}
}
