package memstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/storetest"
	"github.com/agentos/agentos/storetest/memstore"
)

// opener follows storetest's contract: the first call for a t creates an
// empty database, later calls open more handles on it.
func opener[T testing.TB]() func(T) agentos.Store {
	var mu sync.Mutex
	dbs := map[testing.TB]*memstore.DB{}
	return func(tb T) agentos.Store {
		mu.Lock()
		defer mu.Unlock()
		db, ok := dbs[tb]
		if !ok {
			db = memstore.New()
			dbs[tb] = db
			tb.Cleanup(func() { mu.Lock(); delete(dbs, tb); mu.Unlock() })
		}
		s := db.Open()
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, opener[*testing.T](), storetest.Options{
		Tamper: func(t *testing.T, s agentos.Store, seq int64) {
			if !s.(*memstore.Store).DB().TamperEvent(seq, []byte(`{"x":99}`)) {
				t.Fatalf("no audit event %d to tamper with", seq)
			}
		},
		SetClock:  func(s agentos.Store, now func() time.Time) { s.(*memstore.Store).Now = now },
		SetRedact: func(s agentos.Store, r func([]byte) []byte) { s.(*memstore.Store).Redact = r },
	})
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchmarkAppend(b, opener[*testing.B]())
}

func BenchmarkClaims(b *testing.B) {
	storetest.BenchmarkClaims(b, opener[*testing.B]())
}
