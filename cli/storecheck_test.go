package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
)

// storeCommand opens the store at dir/agentos.db as one write command does
// (guardStore) and returns its guard and a close that ends the command the
// way Factory.Close does (advance, close, seal).
func storeCommand(t *testing.T, dir string) (*storeGuard, func()) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "agentos.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := guardStore(ctx, db, dir, path, []string{path, path + "-wal"})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return g, func() {
		g.advance(ctx)
		db.Close()
		g.seal()
	}
}

func readAnchor(t *testing.T, dir string) storeAnchor {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, anchorFile))
	if err != nil {
		t.Fatal(err)
	}
	var a storeAnchor
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func writeAnchor(t *testing.T, dir string, a storeAnchor) {
	t.Helper()
	b, _ := json.Marshal(a)
	if err := os.WriteFile(filepath.Join(dir, anchorFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// scribble overwrites one page in the middle of the database file with
// garbage: a page of early audit events, which neither the anchor's checks
// nor the chain since the anchor read, so only a full structural check
// finds it.
func scribble(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), (st.Size()/4096/2)*4096); err != nil {
		t.Fatal(err)
	}
}

func damaged(err error) bool {
	return agentos.ErrorCode(err) == agentos.ECONFLICT && strings.Contains(agentos.ErrorMessage(err), "is damaged")
}

// The full structural check before a run is skipped only while the store's
// files are the bytes an AgentOS command that held them whole left; a page
// overwritten from outside (even with its modification time put back), a
// check older than a day, or a store that doubled since is read whole
// again, and the run is refused.
func TestStoreCheckAmortised(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "agentos.db")
	db, err := sqlite.Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := db.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "test", Data: map[string]any{"i": i, "pad": strings.Repeat("x", 200)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := newAnchor(ctx, db, dir); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The first check reads the store whole and records it; the command's
	// end seals the files.
	g, end := storeCommand(t, dir)
	if g.whole {
		t.Fatal("a store never sealed is held whole at open")
	}
	if err := g.verify(ctx); err != nil {
		t.Fatal(err)
	}
	end()
	a := readAnchor(t, dir)
	if a.Files == "" || a.CheckedAt.IsZero() || a.CheckedSize == 0 {
		t.Fatalf("anchor after a full check and a close = %+v", a)
	}
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Unchanged since: held whole, no full check (checked_at stays).
	a.CheckedAt = a.CheckedAt.Add(-time.Hour)
	writeAnchor(t, dir, a)
	g, end = storeCommand(t, dir)
	if !g.whole {
		t.Fatal("a store as the last command left it is not held whole")
	}
	if err := g.verify(ctx); err != nil {
		t.Fatal(err)
	}
	end()
	if got := readAnchor(t, dir); !got.CheckedAt.Equal(a.CheckedAt) {
		t.Fatalf("a store unchanged since the last command was read whole again (checked_at %s, was %s)", got.CheckedAt, a.CheckedAt)
	}

	// A page overwritten from outside, its modification time put back:
	// the change time tells, and the run is refused.
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	scribble(t, path)
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	g, end = storeCommand(t, dir)
	if err := g.verify(ctx); !damaged(err) {
		t.Fatalf("check of a store scribbled from outside = %v, want damaged", err)
	}
	end()

	// The same damage made while a command held the store (attributed to
	// it, so sealed): the cheap check cannot see it, the periodic full
	// check does: after a day, or once the store doubled.
	if err := os.WriteFile(path, backup, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	g, end = storeCommand(t, dir)
	g.whole = true // as if it had been sealed before the write below
	scribble(t, path)
	end()
	a = readAnchor(t, dir)
	a.CheckedAt = time.Now().Add(-time.Hour).UTC()
	writeAnchor(t, dir, a)
	g, end = storeCommand(t, dir)
	if !g.whole {
		t.Fatal("the sealed store is not held whole")
	}
	if err := g.verify(ctx); err != nil {
		t.Fatalf("the cheap check read the damaged page: %v (the test no longer tells the periodic check apart)", err)
	}
	end()
	for _, age := range []func(*storeAnchor){
		func(a *storeAnchor) { a.CheckedAt = time.Now().Add(-fullCheckEvery - time.Minute).UTC() },
		func(a *storeAnchor) { a.CheckedSize /= 3 },
	} {
		a := readAnchor(t, dir)
		a.CheckedAt = time.Now().Add(-time.Hour).UTC()
		age(&a)
		writeAnchor(t, dir, a)
		g, end = storeCommand(t, dir)
		if err := g.verify(ctx); !damaged(err) {
			t.Fatalf("periodic check of a damaged store (anchor %+v) = %v, want damaged", a, err)
		}
		end()
	}
}
