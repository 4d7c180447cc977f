package auditanchor_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditanchor"
	"github.com/agentos/agentos/auditkey"
	"github.com/agentos/agentos/sqlite"
)

func mustKey(tb testing.TB) *auditkey.Key {
	tb.Helper()
	k, err := auditkey.Create(filepath.Join(tb.TempDir(), "key"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestCheckpointSignature(t *testing.T) {
	k := mustKey(t)
	c := auditanchor.New(k, "store1", 7, "sha256:ab", time.Unix(100, 0))
	if err := c.Verify(nil); err != nil {
		t.Fatalf("fresh checkpoint: %v", err)
	}
	if err := c.Verify(k.Public); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	back, err := auditanchor.Parse(c.Marshal())
	if err != nil || back.Verify(k.Public) != nil {
		t.Fatalf("round trip: %v", err)
	}
	for name, edit := range map[string]func(*auditanchor.Checkpoint){
		"OKSeq":   func(c *auditanchor.Checkpoint) { c.Seq = 8 },
		"OKHead":  func(c *auditanchor.Checkpoint) { c.Head = "sha256:cd" },
		"OKStore": func(c *auditanchor.Checkpoint) { c.Store = "store2" },
		"OKTime":  func(c *auditanchor.Checkpoint) { c.Time = c.Time.Add(time.Second) },
		"OKSince": func(c *auditanchor.Checkpoint) { c.Since = "abc" },
	} {
		t.Run(name, func(t *testing.T) {
			x := c
			edit(&x)
			if err := x.Verify(nil); agentos.ErrorCode(err) != agentos.ECONFLICT {
				t.Fatalf("edited checkpoint verifies: %v", err)
			}
		})
	}
	t.Run("ErrOtherKey", func(t *testing.T) {
		other := mustKey(t)
		forged := auditanchor.New(other, "store1", 7, "sha256:ab", time.Unix(100, 0))
		if err := forged.Verify(k.Public); err == nil || !strings.Contains(err.Error(), "not by the pinned") {
			t.Fatalf("a checkpoint by another key verifies against the pin: %v", err)
		}
	})
}

func ev(seq int64, hash, task, kind string) agentos.Event {
	return agentos.Event{Seq: seq, Hash: hash, Task: task, Kind: kind, Actor: agentos.System}
}

func TestChecker(t *testing.T) {
	created := &agentos.TaskCreatedEvent{}
	t.Run("OK", func(t *testing.T) {
		c := auditanchor.NewChecker([]auditanchor.Witness{{Seq: 2, Hash: "h2", Where: "cp"}, {Hash: "h3", Where: "rp"}})
		c.Event(ev(1, "h1", "t", agentos.EventTaskCreated), created)
		c.Event(ev(2, "h2", "t", agentos.EventTransition), &agentos.TransitionEvent{From: agentos.StateCreated, To: agentos.StatePlanning})
		c.Event(ev(3, "h3", "", "x"), nil)
		c.Finish([]*agentos.Task{{ID: "t", State: agentos.StatePlanning}}, nil)
		if len(c.Problems) != 0 || c.Witnessed != 2 {
			t.Fatalf("problems %v, witnessed %d", c.Problems, c.Witnessed)
		}
	})
	for name, tc := range map[string]struct {
		ws    []auditanchor.Witness
		tasks []*agentos.Task
		rows  []agentos.Approval
		want  string
	}{
		"ErrRewritten": {ws: []auditanchor.Witness{{Seq: 2, Hash: "old", Where: "cp"}}, want: "cp names audit event 2 with hash old"},
		"ErrTruncated": {ws: []auditanchor.Witness{{Seq: 9, Hash: "h9", Where: "cp"}}, want: "chain ends at event 3: its tail was cut off"},
		"ErrReview":    {ws: []auditanchor.Witness{{Hash: "gone", Where: "rp"}}, want: "rp names chain head gone, which the chain lacks"},
		"ErrState":     {tasks: []*agentos.Task{{ID: "t", State: agentos.StateQueued}}, want: "task t is queued in the store, but its audited transitions end at planning"},
		"ErrDeleted":   {want: "task t has audit events but is missing from the store"},
		"ErrRow": {tasks: []*agentos.Task{{ID: "t", State: agentos.StatePlanning}},
			rows: []agentos.Approval{{ID: 4, Task: "t", Kind: agentos.KindApprove, PlanHash: "p", Actor: agentos.Human("m")}}, want: "(approval row 4) has no audit event"},
	} {
		t.Run(name, func(t *testing.T) {
			c := auditanchor.NewChecker(tc.ws)
			c.Event(ev(1, "h1", "t", agentos.EventTaskCreated), created)
			c.Event(ev(2, "h2", "t", agentos.EventTransition), &agentos.TransitionEvent{From: agentos.StateCreated, To: agentos.StatePlanning})
			c.Event(ev(3, "h3", "", "x"), nil)
			c.Finish(tc.tasks, tc.rows)
			if len(c.Problems) == 0 || !strings.Contains(strings.Join(c.Problems, "\n"), tc.want) {
				t.Fatalf("problems %q, want %q", c.Problems, tc.want)
			}
		})
	}
	t.Run("ErrIllegalTransition", func(t *testing.T) {
		c := auditanchor.NewChecker(nil)
		c.Event(ev(1, "h1", "t", agentos.EventTaskCreated), created)
		c.Event(ev(2, "h2", "t", agentos.EventTransition), &agentos.TransitionEvent{From: agentos.StateCreated, To: agentos.StateCommitted})
		c.Finish([]*agentos.Task{{ID: "t", State: agentos.StateCommitted}}, nil)
		if len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "the transition table does not allow it") {
			t.Fatalf("problems %q", c.Problems)
		}
	})
}

// seedChain fills a store with n events the way runs do: tasks created and
// moved through the table, step records in between, and a signed
// checkpoint every `every` events (the end of a run).
func seedChain(b *testing.B, db *sqlite.DB, key *auditkey.Key, n, every int) []auditanchor.Entry {
	ctx := context.Background()
	var cps []auditanchor.Entry
	task := 0
	for done := 0; done < n; {
		task++
		id := fmt.Sprintf("t%05d", task)
		if err := db.CreateTask(ctx, &agentos.Task{ID: id, Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("a"), Target: "main"}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Transition(ctx, id, agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
			b.Fatal(err)
		}
		evs := make([]agentos.EventInput, every-2)
		for i := range evs {
			evs[i] = agentos.EventInput{Task: id, Run: "r1", Actor: agentos.System, Kind: agentos.EventStep,
				Data: agentos.StepRecord{Run: "r1", Phase: agentos.PhaseApply, Index: i, Kind: "exec", Summary: "exec go test ./...", Argv: []string{"go", "test", "./..."}, OK: true}}
		}
		if _, err := db.Append(ctx, evs...); err != nil {
			b.Fatal(err)
		}
		done += every
		seq, head, _ := db.ChainHead(ctx)
		cps = append(cps, auditanchor.Entry{Checkpoint: auditanchor.New(key, "store", seq, head, time.Now()), Where: fmt.Sprintf("line %d", len(cps)+1)})
	}
	return cps
}

// BenchmarkVerify100k reports `audit verify`'s rate over a 100k-event
// chain: the chain alone (the store's VerifyChain), chain then payloads (two
// passes: audit verify before issue 15), and audit verify now: one pass for
// chain, payloads and anchors (1000 checkpoints, one per 100 events, each
// signature checked and each named event compared; every task's
// transitions replayed; approval rows matched).
func BenchmarkVerify100k(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Create(ctx, filepath.Join(b.TempDir(), "agentos.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	key := mustKey(b)
	cps := seedChain(b, db, key, 100_000, 100)
	head, _, _ := db.ChainHead(ctx)
	// CPU time as well as wall time: on a machine shared with other jobs
	// the wall clock measures them too.
	var cpu0 time.Duration
	cpuNow := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(head)*float64(b.N)/(cpuNow()-cpu0).Seconds(), "events/cpu-s")
	}
	// The added cost per commit of the AgentOS-Audit trailer: reading the
	// head (one indexed row) and formatting it.
	b.Run("trailer-head", func(b *testing.B) {
		for b.Loop() {
			seq, h, err := db.ChainHead(ctx)
			if err != nil || auditanchor.FormatTrailer(seq, h) == "" {
				b.Fatal(err)
			}
		}
	})
	// A checkpoint at the end of a run: sign and append to the log (fsync).
	b.Run("checkpoint", func(b *testing.B) {
		log := auditanchor.LogPath(b.TempDir())
		for b.Loop() {
			if err := auditanchor.Append(log, auditanchor.New(key, "store", head, "sha256:x", time.Now())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chain", func(b *testing.B) {
		cpu0 = cpuNow()
		for b.Loop() {
			if _, err := db.VerifyChain(ctx); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("chain+payloads", func(b *testing.B) {
		cpu0 = cpuNow()
		for b.Loop() {
			if _, err := db.VerifyChain(ctx); err != nil {
				b.Fatal(err)
			}
			if _, bad, err := agentos.VerifyPayloads(ctx, db); err != nil || len(bad) > 0 {
				b.Fatal(err, bad)
			}
		}
		report(b)
	})
	// What `audit verify` does now: one pass for chain, payloads and the
	// anchors' per-event checks.
	b.Run("verify-with-anchors", func(b *testing.B) {
		cpu0 = cpuNow()
		for b.Loop() {
			if probs := auditanchor.CheckSignatures(cps, key.Public, "store"); len(probs) > 0 {
				b.Fatal(probs)
			}
			ws := make([]auditanchor.Witness, len(cps))
			for i, c := range cps {
				ws[i] = auditanchor.Witness{Seq: c.Seq, Hash: c.Head, Where: c.Where}
			}
			ch := auditanchor.NewChecker(ws)
			var check agentos.ChainCheck
			var chainErr error
			if _, bad, err := agentos.VerifyPayloadsFunc(ctx, db, func(e agentos.Event, v any) {
				if chainErr == nil {
					chainErr = check.Next(e)
				}
				ch.Event(e, v)
			}); err != nil || len(bad) > 0 || chainErr != nil || check.Checked() != head {
				b.Fatal(err, bad, chainErr)
			}
			tasks, err := db.Tasks(ctx, agentos.TaskFilter{})
			if err != nil {
				b.Fatal(err)
			}
			var rows []agentos.Approval
			for _, t := range tasks {
				as, err := db.Approvals(ctx, t.ID)
				if err != nil {
					b.Fatal(err)
				}
				rows = append(rows, as...)
			}
			ch.Finish(tasks, rows)
			if len(ch.Problems) > 0 || ch.Witnessed != len(cps) {
				b.Fatal(ch.Problems, ch.Witnessed)
			}
		}
		report(b)
	})
}
