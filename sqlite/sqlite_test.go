package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

func MustOpen(tb testing.TB) *DB {
	tb.Helper()
	db, err := Create(context.Background(), filepath.Join(tb.TempDir(), "agentos.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestTransitionIsCASAndAudited(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	task := &agentos.Task{ID: "t1", Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("a"), Target: "main"}
	if err := db.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Transition(ctx, "t1", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		t.Fatal(err)
	}
	n0, _, _ := db.ChainHead(ctx)
	// Illegal pair: refused by the table, nothing written.
	if _, err := db.Transition(ctx, "t1", agentos.StatePlanning, agentos.StateCommitted, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("illegal transition: %v", err)
	}
	// Stale "from": another process moved the task.
	if _, err := db.Transition(ctx, "t1", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("stale from: %v", err)
	}
	n1, _, _ := db.ChainHead(ctx)
	if n1 != n0 {
		t.Fatalf("refused transitions appended %d events", n1-n0)
	}
	got, _ := db.Task(ctx, "t1")
	if got.State != agentos.StatePlanning {
		t.Fatalf("state = %s", got.State)
	}
	evs, _ := db.Events(ctx, agentos.EventFilter{Task: "t1", Kind: agentos.EventTransition})
	if len(evs) != 1 {
		t.Fatalf("transition events = %d, want 1", len(evs))
	}
	// Prefix lookup.
	if _, err := db.Task(ctx, "t"); err != nil {
		t.Fatalf("prefix: %v", err)
	}
	if _, err := db.Task(ctx, "zz"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("unknown: %v", err)
	}
}

func TestVerifyChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, sql string
		seq       int64
	}{
		{"edited", `UPDATE audit SET data = '{"x":99}' WHERE seq = 3`, 3},
		{"deleted", `DELETE FROM audit WHERE seq = 4`, 4},
		{"reordered", `UPDATE audit SET seq = -seq WHERE seq IN (5, 6); UPDATE audit SET seq = 6 WHERE seq = -5; UPDATE audit SET seq = 5 WHERE seq = -6`, 5},
		{"rehashed", `UPDATE audit SET hash = 'sha256:00' WHERE seq = 2`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpen(t)
			var evs []agentos.EventInput
			for i := 0; i < 8; i++ {
				evs = append(evs, agentos.EventInput{Actor: agentos.System, Kind: "test", Data: map[string]any{"x": i}})
			}
			if _, err := db.Append(ctx, evs...); err != nil {
				t.Fatal(err)
			}
			if n, err := db.VerifyChain(ctx); err != nil || n != 8 {
				t.Fatalf("pristine: %d, %v", n, err)
			}
			if _, err := db.db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err := db.VerifyChain(ctx)
			var ce *agentos.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.seq {
				t.Fatalf("VerifyChain = %v, want a break at %d", err, tc.seq)
			}
		})
	}
}

func TestEventTimesRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	db.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)) }
	if _, err := db.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "k", Data: nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyChain(ctx); err != nil {
		t.Fatal(err)
	}
}

func seed(b *testing.B, db *DB, n, batch int) {
	ctx := context.Background()
	evs := make([]agentos.EventInput, batch)
	for done := 0; done < n; done += batch {
		for i := range evs {
			evs[i] = agentos.EventInput{Task: "t1", Run: "r1", Actor: agentos.System, Kind: agentos.EventStep, Data: map[string]any{"i": done + i, "summary": "exec go test ./...", "ok": true}}
		}
		if _, err := db.Append(ctx, evs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditAppend reports events/s appended in batches of 100 (one
// transaction each) and one at a time.
func BenchmarkAuditAppend(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db := MustOpen(b)
			n := 0
			for b.Loop() {
				seed(b, db, batch, batch)
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAuditVerify100k reports events/s verified over a 100k-event chain.
func BenchmarkAuditVerify100k(b *testing.B) {
	db := MustOpen(b)
	seed(b, db, 100_000, 1000)
	ctx := context.Background()
	b.ResetTimer()
	var n int64
	for b.Loop() {
		var err error
		if n, err = db.VerifyChain(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
