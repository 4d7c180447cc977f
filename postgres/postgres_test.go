package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/postgres"
	"github.com/agentos/agentos/postgres/pgtest"
	"github.com/agentos/agentos/storetest"
	"github.com/jackc/pgx/v5"
)

// serverURL returns the test server's URL, or skips (fails in CI).
func serverURL(tb testing.TB) string { return pgtest.ServerURL(tb) }

// dbs gives every test its own database, created on first use and dropped
// when the test ends, so runs never see each other's rows.
type dbs struct {
	mu   sync.Mutex
	urls map[testing.TB]string
}

func (d *dbs) url(tb testing.TB) string {
	tb.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if u, ok := d.urls[tb]; ok {
		return u
	}
	u := pgtest.FreshDatabase(tb)
	if d.urls == nil {
		d.urls = map[testing.TB]string{}
	}
	d.urls[tb] = u
	// A benchmark runs its body (and its cleanups) several times.
	tb.Cleanup(func() { d.mu.Lock(); delete(d.urls, tb); d.mu.Unlock() })
	return u
}

func opener[T testing.TB](d *dbs) func(T) agentos.Store {
	return func(tb T) agentos.Store {
		tb.Helper()
		db, err := postgres.Create(context.Background(), d.url(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}
}

func TestConformance(t *testing.T) {
	serverURL(t)
	d := &dbs{}
	storetest.Run(t, opener[*testing.T](d), storetest.Options{
		Tamper: func(t *testing.T, _ agentos.Store, seq int64) {
			ctx := context.Background()
			c, err := pgx.Connect(ctx, d.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, `UPDATE audit SET data = '{"x":99}' WHERE seq = $1`, seq); err != nil {
				t.Fatal(err)
			}
		},
		SetClock:  func(s agentos.Store, now func() time.Time) { s.(*postgres.DB).Now = now },
		SetRedact: func(s agentos.Store, r func([]byte) []byte) { s.(*postgres.DB).Redact = r },
	})
}

func BenchmarkAppend(b *testing.B) {
	serverURL(b)
	storetest.BenchmarkAppend(b, opener[*testing.B](&dbs{}))
}

func BenchmarkClaims(b *testing.B) {
	serverURL(b)
	storetest.BenchmarkClaims(b, opener[*testing.B](&dbs{}))
}

// OpenReadOnly never creates or writes: an empty database is "not
// initialised", and on an initialised one every write is refused by
// PostgreSQL itself.
func TestOpenReadOnly(t *testing.T) {
	serverURL(t)
	ctx := context.Background()
	d := &dbs{}
	u := d.url(t)
	_, err := postgres.OpenReadOnly(ctx, u)
	if agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("OpenReadOnly of an empty database = %v, want not initialised", err)
	}
	// A write verb's open does not create the store either: only init does.
	if _, err := postgres.Open(ctx, u); agentos.ErrorCode(err) != agentos.ENOTFOUND || !strings.Contains(agentos.ErrorMessage(err), "agentos init") {
		t.Fatalf("Open of an empty database = %v, want not initialised", err)
	}
	if _, err := postgres.OpenReadOnly(ctx, u); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("Open created tables: OpenReadOnly now says %v", err)
	}
	rw, err := postgres.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	id, err := rw.Identity(ctx)
	if err != nil || len(id) != 32 {
		t.Fatalf("Identity = %q, %v", id, err)
	}
	if again, err := postgres.Open(ctx, u); err != nil {
		t.Fatal(err)
	} else {
		if id2, _ := again.Identity(ctx); id2 != id {
			t.Fatalf("Identity after reopen = %s, want %s", id2, id)
		}
		again.Close()
	}
	if _, err := rw.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	ro, err := postgres.OpenReadOnly(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := ro.VerifyChain(ctx); err != nil || n != 1 {
		t.Fatalf("read-only VerifyChain = %d, %v", n, err)
	}
	if _, err := ro.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "k"}); err == nil {
		t.Fatal("a read-only store appended")
	}
	if err := ro.CreateTask(ctx, &agentos.Task{ID: "x", Submitter: agentos.System, Target: "main"}); err == nil {
		t.Fatal("a read-only store created a task")
	}
	if n, _, _ := rw.ChainHead(ctx); n != 1 {
		t.Fatalf("head %d after refused writes, want 1", n)
	}
}
