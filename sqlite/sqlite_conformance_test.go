package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
	"github.com/agentos/agentos/storetest"
)

// opener follows storetest's contract: a new handle on the database file of
// tb, created empty on tb's first call.
func opener[T testing.TB]() func(T) agentos.Store {
	var mu sync.Mutex
	paths := map[testing.TB]string{}
	return func(tb T) agentos.Store {
		tb.Helper()
		mu.Lock()
		path, ok := paths[tb]
		if !ok {
			path = filepath.Join(tb.TempDir(), "agentos.db")
			paths[tb] = path
			// A benchmark runs its body (and its cleanups) several times.
			tb.Cleanup(func() { mu.Lock(); delete(paths, tb); mu.Unlock() })
		}
		mu.Unlock()
		db, err := sqlite.Create(context.Background(), path)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, opener[*testing.T](), storetest.Options{
		Tamper: func(t *testing.T, s agentos.Store, seq int64) {
			raw, err := sql.Open("sqlite", s.(*sqlite.DB).Path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`UPDATE audit SET data = '{"x":99}' WHERE seq = ?`, seq); err != nil {
				t.Fatal(err)
			}
		},
		SetClock:  func(s agentos.Store, now func() time.Time) { s.(*sqlite.DB).Now = now },
		SetRedact: func(s agentos.Store, r func([]byte) []byte) { s.(*sqlite.DB).Redact = r },
	})
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchmarkAppend(b, opener[*testing.B]())
}

func BenchmarkClaims(b *testing.B) {
	storetest.BenchmarkClaims(b, opener[*testing.B]())
}
