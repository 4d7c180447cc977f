// Package storetest is the conformance suite every agentos.Store adapter
// passes (package sqlite, package postgres): one set of behaviours, run
// against each real database, in the spirit of restic's backend suite.
//
// An adapter's test calls Run with an open function. open(t) returns a new
// handle on the database that belongs to t: the first call for a t creates
// it empty, later calls with the same t open further handles on that same
// database (the concurrency tests give every goroutine its own handle, as
// separate processes would have). Handles are closed by the adapter's
// t.Cleanup.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// Options are the store-specific hooks the suite cannot reach through
// agentos.Store. Each is optional; the checks that need a missing one skip.
type Options struct {
	// Tamper edits the stored data of audit event seq behind the store's
	// back (a raw UPDATE), as someone editing the database would.
	Tamper func(t *testing.T, s agentos.Store, seq int64)
	// SetClock replaces the store's clock.
	SetClock func(s agentos.Store, now func() time.Time)
	// SetRedact installs the store's audit redaction hook.
	SetRedact func(s agentos.Store, redact func([]byte) []byte)
	// Workers is how many handles the concurrency tests open (default 8).
	Workers int
}

// Run runs the whole suite; opts is at most one Options.
func Run(t *testing.T, open func(t *testing.T) agentos.Store, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	s := &suite{open: open, o: o}
	t.Run("Transitions", s.transitions)
	t.Run("TransitionRace", s.transitionRace)
	t.Run("TaskLookup", s.taskLookup)
	t.Run("TaskWindow", s.taskWindow)
	t.Run("TaskOrderWithinASecond", s.taskOrderWithinASecond)
	t.Run("TaskCursor", s.taskCursor)
	t.Run("APITokens", s.apiTokens)
	t.Run("AuditChain", s.auditChain)
	t.Run("AuditConcurrentAppends", s.auditConcurrent)
	t.Run("AuditTimeExact", s.auditTimeExact)
	t.Run("AuditRedact", s.auditRedact)
	t.Run("AuditTamper", s.auditTamper)
	t.Run("Leases", s.leases)
	t.Run("LeaseContention", s.leaseContention)
	t.Run("LeaseCrashTakeover", s.leaseCrashTakeover)
	t.Run("ForceRelease", s.forceRelease)
	t.Run("Approvals", s.approvals)
	t.Run("ApprovalRace", s.approvalRace)
	t.Run("Commits", s.commits)
	t.Run("Runs", s.runs)
	t.Run("Reviews", s.reviews)
	t.Run("QuestionAnswerPacks", s.questionAnswerPacks)
	t.Run("MemoryPacks", s.memoryPacks)
	t.Run("PlansAndIntents", s.plansAndIntents)
	t.Run("Integrity", s.integrity)
	t.Run("LargeBodies", s.largeBodies)
	t.Run("WebhookCursors", s.webhookCursors)
	t.Run("Usage", s.usage)
}

// integrity: a persistent store has an identity made when it was created,
// the same on every read and after writes, and a whole store passes its
// own structural check.
func (s *suite) integrity(t *testing.T) {
	st := s.open(t)
	integ, ok := st.(agentos.StoreIntegrity)
	if !ok {
		t.Skip("the store keeps no identity (in memory)")
	}
	id, err := integ.Identity(ctx)
	must(t, err)
	if len(id) < 16 {
		t.Fatalf("Identity = %q, want a random id", id)
	}
	_, err = st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "k"})
	must(t, err)
	if again, err := integ.Identity(ctx); err != nil || again != id {
		t.Fatalf("Identity after a write = %q, %v; want %q", again, err, id)
	}
	must(t, integ.QuickCheck(ctx))
}

type suite struct {
	open func(t *testing.T) agentos.Store
	o    Options
}

var ctx = context.Background()

// unencodable makes canonical JSON fail: an event carrying it cannot be
// appended, so the transaction around it must leave nothing behind.
var unencodable = map[string]any{"bad": make(chan int)}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if agentos.ErrorCode(err) != code || err == nil {
		t.Fatalf("%s: got %v (code %q), want code %q", what, err, agentos.ErrorCode(err), code)
	}
}

func head(t *testing.T, s agentos.Store) int64 {
	t.Helper()
	n, _, err := s.ChainHead(ctx)
	must(t, err)
	return n
}

func verify(t *testing.T, s agentos.Store, want int64) {
	t.Helper()
	n, err := s.VerifyChain(ctx)
	if err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	if want >= 0 && n != want {
		t.Fatalf("VerifyChain checked %d events, want %d", n, want)
	}
}

func newTask(t *testing.T, s agentos.Store, id string) *agentos.Task {
	t.Helper()
	task := &agentos.Task{ID: id, Mode: agentos.ModeSemiAuto, Goal: "goal of " + id, Submitter: agentos.Human("ann"), Target: "main", Labels: []string{"l1"}}
	must(t, s.CreateTask(ctx, task))
	return task
}

// fixedClock is a controllable clock.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (s *suite) clock(t *testing.T, st agentos.Store, start time.Time) *fixedClock {
	t.Helper()
	if s.o.SetClock == nil {
		t.Skip("the adapter gives no SetClock hook")
	}
	c := &fixedClock{now: start}
	s.o.SetClock(st, c.Now)
	return c
}

func (s *suite) transitions(t *testing.T) {
	st := s.open(t)
	newTask(t, st, "t1")
	got, err := st.Task(ctx, "t1")
	must(t, err)
	if got.State != agentos.StateCreated || got.Goal != "goal of t1" || !slices.Equal(got.Labels, []string{"l1"}) || got.Submitter != agentos.Human("ann") {
		t.Fatalf("created task reads back as %+v", got)
	}
	evs, err := st.Events(ctx, agentos.EventFilter{Task: "t1"})
	must(t, err)
	if len(evs) != 1 || evs[0].Kind != agentos.EventTaskCreated {
		t.Fatalf("CreateTask audited %+v, want one %s", evs, agentos.EventTaskCreated)
	}
	// Allowed, with fields set together and an extra event riding along.
	n0 := head(t, st)
	tr, err := st.Transition(ctx, "t1", agentos.StateCreated, agentos.StatePlanning, agentos.System,
		agentos.TaskUpdate{Reason: agentos.Str("because"), PlanID: agentos.Str("p1"), AutoApply: new(true)},
		agentos.TransitionDetail{Phase: "test"},
		agentos.EventInput{Task: "t1", Actor: agentos.System, Kind: "test.extra", Data: map[string]any{"n": 1}})
	must(t, err)
	if tr.State != agentos.StatePlanning || tr.Reason != "because" || tr.PlanID != "p1" || !tr.AutoApply {
		t.Fatalf("Transition returned %+v", tr)
	}
	got, err = st.Task(ctx, "t1")
	must(t, err)
	if got.State != agentos.StatePlanning || got.Reason != "because" || got.PlanID != "p1" || !got.AutoApply {
		t.Fatalf("transitioned task reads back as %+v", got)
	}
	evs, err = st.Events(ctx, agentos.EventFilter{FromSeq: n0 + 1})
	must(t, err)
	if len(evs) != 2 || evs[0].Kind != agentos.EventTransition || evs[1].Kind != "test.extra" || evs[1].Seq != evs[0].Seq+1 {
		t.Fatalf("transition appended %+v, want the transition then the extra event", evs)
	}
	if d, err := agentos.DecodeEvent(evs[0]); err != nil {
		t.Errorf("transition event: %v", err)
	} else if te := *d.(*agentos.TransitionEvent); te.From != agentos.StateCreated || te.To != agentos.StatePlanning || te.Reason != "because" || te.Phase != "test" {
		t.Errorf("transition event data %s, want from created to planning, reason because, phase test", evs[0].Data)
	}
	n1 := head(t, st)
	// Forbidden pair: refused by the table, nothing written.
	_, err = st.Transition(ctx, "t1", agentos.StatePlanning, agentos.StateCommitted, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
	wantCode(t, err, agentos.ECONFLICT, "illegal transition")
	// Stale from: another process moved the task.
	_, err = st.Transition(ctx, "t1", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
	wantCode(t, err, agentos.ECONFLICT, "stale from")
	// An extra event that cannot be appended takes the transition down with it.
	_, err = st.Transition(ctx, "t1", agentos.StatePlanning, agentos.StatePlanned, agentos.System, agentos.TaskUpdate{Reason: agentos.Str("lost")}, agentos.TransitionDetail{},
		agentos.EventInput{Task: "t1", Actor: agentos.System, Kind: "test.bad", Data: unencodable})
	if err == nil {
		t.Fatal("a transition whose extra event cannot be encoded succeeded")
	}
	got, err = st.Task(ctx, "t1")
	must(t, err)
	if got.State != agentos.StatePlanning || got.Reason != "because" {
		t.Fatalf("a failed transition changed the task: %+v", got)
	}
	if n := head(t, st); n != n1 {
		t.Fatalf("refused and failed transitions appended %d events", n-n1)
	}
	// Unknown task.
	_, err = st.Transition(ctx, "nope", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
	wantCode(t, err, agentos.ENOTFOUND, "transition of an unknown task")
	// By unique prefix: the event names the full id.
	newTask(t, st, "prefixed-task")
	_, err = st.Transition(ctx, "prefixed", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
	must(t, err)
	evs, err = st.Events(ctx, agentos.EventFilter{Task: "prefixed-task", Kind: agentos.EventTransition})
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("a transition by id prefix audited %d events under the full id, want 1", len(evs))
	}
	// Tasks: by state, newest first, limited.
	newTask(t, st, "t3")
	all, err := st.Tasks(ctx, agentos.TaskFilter{})
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("Tasks = %d tasks, want 3", len(all))
	}
	planning, err := st.Tasks(ctx, agentos.TaskFilter{State: agentos.StatePlanning})
	must(t, err)
	if len(planning) != 2 {
		t.Fatalf("Tasks(planning) = %d, want 2", len(planning))
	}
	one, err := st.Tasks(ctx, agentos.TaskFilter{Limit: 1})
	must(t, err)
	if len(one) != 1 {
		t.Fatalf("Tasks(limit 1) = %d", len(one))
	}
	verify(t, st, -1)
}

// taskWindow: ended tasks last changed in [since, before), exact to the
// nanosecond, though stores keep times as text that drops trailing zeros
// (so "…:05Z" sorts after "…:05.5Z"); tasks not ended never match Ended.
func (s *suite) taskWindow(t *testing.T) {
	st := s.open(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := s.clock(t, st, start)
	end := func(id string, at time.Time) {
		t.Helper()
		clk.now = at
		newTask(t, st, id)
		_, err := st.Transition(ctx, id, agentos.StateCreated, agentos.StateCancelled, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
		must(t, err)
	}
	end("a-whole-second", start)                          // …:07Z
	end("b-half", start.Add(500*time.Millisecond))        // …:07.5Z
	end("c-next", start.Add(time.Second+time.Nanosecond)) // …:08.000000001Z
	end("d-late", start.Add(time.Hour))
	clk.now = start.Add(600 * time.Millisecond)
	newTask(t, st, "e-open") // created, not ended
	ids := func(f agentos.TaskFilter) string {
		t.Helper()
		ts, err := st.Tasks(ctx, f)
		must(t, err)
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		f    agentos.TaskFilter
		want string
	}{
		{agentos.TaskFilter{Ended: true}, "a-whole-second b-half c-next d-late"},
		{agentos.TaskFilter{Ended: true, UpdatedBefore: start.Add(500 * time.Millisecond)}, "a-whole-second"},
		{agentos.TaskFilter{Ended: true, UpdatedBefore: start.Add(500*time.Millisecond + 1)}, "a-whole-second b-half"},
		{agentos.TaskFilter{Ended: true, UpdatedSince: start.Add(1), UpdatedBefore: start.Add(time.Second + 1)}, "b-half"},
		{agentos.TaskFilter{Ended: true, UpdatedSince: start.Add(500 * time.Millisecond), UpdatedBefore: start.Add(2 * time.Second)}, "b-half c-next"},
		{agentos.TaskFilter{UpdatedSince: start.Add(time.Second)}, "c-next d-late"},
		{agentos.TaskFilter{UpdatedBefore: start.Add(time.Second)}, "a-whole-second b-half e-open"},
		{agentos.TaskFilter{State: agentos.StateCreated, UpdatedBefore: start.Add(time.Second)}, "e-open"},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("Tasks(ended=%v since=%s before=%s) = [%s], want [%s]", c.f.Ended, c.f.UpdatedSince.Format(time.RFC3339Nano), c.f.UpdatedBefore.Format(time.RFC3339Nano), got, c.want)
		}
	}
	// Limit counts matching tasks, newest first.
	ts, err := st.Tasks(ctx, agentos.TaskFilter{Ended: true, UpdatedSince: start.Add(1), Limit: 2})
	must(t, err)
	if len(ts) != 2 || ts[0].ID != "d-late" || ts[1].ID != "c-next" {
		t.Errorf("Tasks(limit 2) = %v, want d-late, c-next", ts)
	}
}

// taskOrderWithinASecond: "newest first" is time order to the nanosecond,
// also among tasks created within one second, whose times as text differ
// in length when trailing zeros are trimmed ("…:07Z", "…:07.1Z",
// "…:07.15Z"); and the newest of them is the one a limit keeps.
func (s *suite) taskOrderWithinASecond(t *testing.T) {
	st := s.open(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := s.clock(t, st, start)
	for _, c := range []struct {
		id string
		at time.Duration
	}{
		{"t4", 150 * time.Millisecond}, // …:07.15Z
		{"t1", 0},                      // …:07Z
		{"t3", 100 * time.Millisecond}, // …:07.1Z
		{"t2", 90 * time.Millisecond},  // …:07.09Z
		{"t5", 999999999},              // …:07.999999999Z
		{"t0", -1},                     // …:06.999999999Z
	} {
		clk.now = start.Add(c.at)
		newTask(t, st, c.id)
	}
	ts, err := st.Tasks(ctx, agentos.TaskFilter{})
	must(t, err)
	var got []string
	for _, x := range ts {
		got = append(got, x.ID)
	}
	if want := "t5 t4 t3 t2 t1 t0"; strings.Join(got, " ") != want {
		t.Errorf("Tasks() = %v, want newest first: %s", got, want)
	}
	ts, err = st.Tasks(ctx, agentos.TaskFilter{Limit: 2})
	must(t, err)
	if len(ts) != 2 || ts[0].ID != "t5" || ts[1].ID != "t4" {
		t.Errorf("Tasks(limit 2) = %v, want t5, t4", ts)
	}
}

// taskCursor: a list continued after a task (TaskFilter.After) holds
// exactly the tasks after it in the list's order, ties in time broken by
// id, in SQL as in Match.
func (s *suite) taskCursor(t *testing.T) {
	st := s.open(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := s.clock(t, st, start)
	for i, id := range []string{"ta", "tb", "tc", "td", "te"} {
		// tb and tc share a creation time: the id orders them.
		clk.now = start.Add(time.Duration(min(i, 1+max(i-2, 0))) * time.Millisecond)
		newTask(t, st, id)
	}
	var got []string
	f := agentos.TaskFilter{Limit: 2}
	for range 5 {
		ts, err := st.Tasks(ctx, f)
		must(t, err)
		for _, x := range ts {
			got = append(got, x.ID)
		}
		if len(ts) < 2 {
			break
		}
		last := ts[len(ts)-1]
		f.After = &agentos.TaskCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if want := "te td tc tb ta"; strings.Join(got, " ") != want {
		t.Errorf("pages = %v, want %s", got, want)
	}
}

// apiTokens: a token is stored with its audit event, found by its hash,
// revoked once (with its event) and never twice.
func (s *suite) apiTokens(t *testing.T) {
	st := s.open(t)
	ts, ok := st.(agentos.TokenStore)
	if !ok {
		t.Skip("this store keeps no API tokens")
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tok := agentos.APIToken{ID: "tok_1", Name: "alice", Actor: agentos.Human("alice"), Role: "viewer", Hash: strings.Repeat("ab", 32),
		CreatedAt: at, CreatedBy: agentos.Human("root"), ExpiresAt: at.Add(time.Hour)}
	must(t, ts.SaveToken(ctx, tok, agentos.NewTokenEvent(agentos.EventTokenCreated, tok, tok.CreatedBy)))
	if err := ts.SaveToken(ctx, tok, agentos.NewTokenEvent(agentos.EventTokenCreated, tok, tok.CreatedBy)); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Errorf("saving a token twice: %v, want a conflict", err)
	}
	got, err := ts.TokenByHash(ctx, tok.Hash)
	must(t, err)
	if got.ID != tok.ID || got.Actor != tok.Actor || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Errorf("TokenByHash = %+v, want %+v", got, tok)
	}
	if _, err := ts.TokenByHash(ctx, strings.Repeat("cd", 32)); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Errorf("unknown hash: %v", err)
	}
	ev := func(x agentos.APIToken) agentos.EventInput {
		return agentos.NewTokenEvent(agentos.EventTokenRevoked, x, agentos.Human("root"))
	}
	r, err := ts.RevokeToken(ctx, "tok_1", at.Add(time.Minute), agentos.Human("root"), ev)
	must(t, err)
	if r.RevokedAt.IsZero() || r.RevokedBy != agentos.Human("root") {
		t.Errorf("revoked = %+v", r)
	}
	if _, err := ts.RevokeToken(ctx, "tok_1", at, agentos.Human("root"), ev); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Errorf("revoking twice: %v, want a conflict", err)
	}
	all, err := ts.APITokens(ctx)
	must(t, err)
	if len(all) != 1 || all[0].RevokedAt.IsZero() {
		t.Errorf("APITokens = %+v", all)
	}
	evs, err := st.Events(ctx, agentos.EventFilter{})
	must(t, err)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, " ") != "token.created token.revoked" {
		t.Errorf("events = %v, want one token.created and one token.revoked", kinds)
	}
}

// transitionRace: many handles race one compare-and-swap; exactly one wins
// and exactly one transition is audited.
func (s *suite) transitionRace(t *testing.T) {
	first := s.open(t)
	newTask(t, first, "race")
	handles := []agentos.Store{first}
	for len(handles) < s.o.Workers {
		handles = append(handles, s.open(t))
	}
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for _, h := range handles {
		wg.Go(func() {
			_, err := h.Transition(ctx, "race", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{})
			switch agentos.ErrorCode(err) {
			case "":
				won.Add(1)
			case agentos.ECONFLICT:
				lost.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing transition: %v", err)
	}
	if won.Load() != 1 || int(lost.Load()) != len(handles)-1 {
		t.Fatalf("%d transitions won and %d lost, want 1 and %d", won.Load(), lost.Load(), len(handles)-1)
	}
	evs, err := first.Events(ctx, agentos.EventFilter{Task: "race", Kind: agentos.EventTransition})
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("%d transition events, want 1", len(evs))
	}
	verify(t, first, 2)
}

func (s *suite) taskLookup(t *testing.T) {
	st := s.open(t)
	for _, id := range []string{"abc1", "abc2", "x_y", "xay", "p%q", "pzq", `b\c`, "bxc"} {
		newTask(t, st, id)
	}
	for _, tc := range []struct {
		id, want, code string
	}{
		{"abc1", "abc1", ""},
		{"abc", "", agentos.EINVALID},
		{"x_", "x_y", ""}, // _ is literal, not LIKE's any-character
		{"p%", "p%q", ""}, // % is literal
		{`b\`, `b\c`, ""}, // so is the escape character
		{"x", "", agentos.EINVALID},
		{"zz", "", agentos.ENOTFOUND},
		{"", "", agentos.ENOTFOUND},
		{"ABC1", "", agentos.ENOTFOUND}, // ids are case-sensitive
	} {
		got, err := st.Task(ctx, tc.id)
		if tc.code != "" {
			wantCode(t, err, tc.code, fmt.Sprintf("Task(%q)", tc.id))
			continue
		}
		if err != nil || got.ID != tc.want {
			t.Fatalf("Task(%q) = %v, %v; want %s", tc.id, got, err, tc.want)
		}
	}
}

func (s *suite) auditChain(t *testing.T) {
	st := s.open(t)
	if n, h, err := st.ChainHead(ctx); err != nil || n != 0 || h != agentos.GenesisHash {
		t.Fatalf("empty ChainHead = %d %s %v", n, h, err)
	}
	verify(t, st, 0)
	var in []agentos.EventInput
	for i := range 5 {
		task := "a"
		if i%2 == 1 {
			task = "b"
		}
		in = append(in, agentos.EventInput{Task: task, Run: "r", Actor: agentos.Human("ann"), Kind: fmt.Sprintf("k%d", i%2), Data: map[string]any{"i": i, "s": "ü\u2028<"}})
	}
	out, err := st.Append(ctx, in...)
	must(t, err)
	if len(out) != 5 || out[0].Seq != 1 || out[4].Seq != 5 || out[0].PrevHash != agentos.GenesisHash || out[1].PrevHash != out[0].Hash {
		t.Fatalf("Append returned %+v", out)
	}
	n, h, err := st.ChainHead(ctx)
	must(t, err)
	if n != 5 || h != out[4].Hash {
		t.Fatalf("ChainHead = %d %s, want 5 %s", n, h, out[4].Hash)
	}
	all, err := st.Events(ctx, agentos.EventFilter{})
	must(t, err)
	for i, e := range all {
		o := out[i]
		if e.Seq != o.Seq || !e.Time.Equal(o.Time) || e.Task != o.Task || e.Run != o.Run || e.Actor != o.Actor || e.Kind != o.Kind || string(e.Data) != string(o.Data) || e.PrevHash != o.PrevHash || e.Hash != o.Hash {
			t.Fatalf("event %d reads back as %+v, appended %+v", i+1, e, o)
		}
	}
	for _, tc := range []struct {
		f    agentos.EventFilter
		seqs []int64
	}{
		{agentos.EventFilter{Task: "a"}, []int64{1, 3, 5}},
		{agentos.EventFilter{Kind: "k1"}, []int64{2, 4}},
		{agentos.EventFilter{Task: "a", Kind: "k0", FromSeq: 2}, []int64{3, 5}},
		{agentos.EventFilter{FromSeq: 2, Limit: 2}, []int64{2, 3}},
	} {
		evs, err := st.Events(ctx, tc.f)
		must(t, err)
		var seqs []int64
		for _, e := range evs {
			seqs = append(seqs, e.Seq)
		}
		if !slices.Equal(seqs, tc.seqs) {
			t.Errorf("Events(%+v) = %v, want %v", tc.f, seqs, tc.seqs)
		}
	}
	// An event that cannot be encoded aborts the whole append.
	if _, err := st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "ok"}, agentos.EventInput{Actor: agentos.System, Kind: "bad", Data: unencodable}); err == nil {
		t.Fatal("an append with an unencodable event succeeded")
	}
	verify(t, st, 5)
	if out, err := st.Append(ctx); err != nil || len(out) != 0 {
		t.Fatalf("an empty append = %v, %v", out, err)
	}
	verify(t, st, 5)
}

// auditConcurrent: N handles append at once; the chain stays one line with
// exactly every event in it.
func (s *suite) auditConcurrent(t *testing.T) {
	handles := make([]agentos.Store, s.o.Workers)
	for i := range handles {
		handles[i] = s.open(t)
	}
	const perWorker, batch = 12, 3
	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for w, h := range handles {
		wg.Go(func() {
			for i := 0; i < perWorker; i += batch {
				var evs []agentos.EventInput
				for j := range batch {
					evs = append(evs, agentos.EventInput{Task: fmt.Sprintf("w%d", w), Actor: agentos.System, Kind: "concurrent", Data: map[string]any{"w": w, "i": i + j}})
				}
				out, err := h.Append(ctx, evs...)
				if err != nil {
					errs <- err
					return
				}
				// One append's events are consecutive: nobody interleaves.
				for j := 1; j < len(out); j++ {
					if out[j].Seq != out[j-1].Seq+1 || out[j].PrevHash != out[j-1].Hash {
						errs <- fmt.Errorf("one append's events are not consecutive: %d then %d", out[j-1].Seq, out[j].Seq)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	want := int64(len(handles) * perWorker)
	verify(t, handles[0], want)
	evs, err := handles[0].Events(ctx, agentos.EventFilter{})
	must(t, err)
	seen := map[string]bool{}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i+1, e.Seq)
		}
		seen[string(e.Data)] = true
	}
	if int64(len(seen)) != want {
		t.Fatalf("%d distinct events in the chain, want %d", len(seen), want)
	}
	if n := head(t, handles[len(handles)-1]); n != want {
		t.Fatalf("another handle sees head %d, want %d", n, want)
	}
}

// auditTimeExact: an event's time is hashed to the nanosecond, so it must
// read back to the nanosecond.
func (s *suite) auditTimeExact(t *testing.T) {
	st := s.open(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
	clk := s.clock(t, st, start)
	out, err := st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "tick"})
	must(t, err)
	clk.Add(time.Nanosecond)
	_, err = st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "tick"})
	must(t, err)
	evs, err := st.Events(ctx, agentos.EventFilter{})
	must(t, err)
	if !evs[0].Time.Equal(start) || evs[0].Time.Nanosecond() != 123456789 || out[0].Time.Location() != time.UTC || evs[0].Time.Location() != time.UTC {
		t.Fatalf("event time reads back as %s (appended %s), want %s in UTC", evs[0].Time, out[0].Time, start.UTC())
	}
	if !evs[1].Time.Equal(start.Add(time.Nanosecond)) {
		t.Fatalf("second event time %s", evs[1].Time)
	}
	verify(t, st, 2)
	// Task times come from the same clock and read back exactly.
	task := newTask(t, st, "timed")
	got, err := st.Task(ctx, "timed")
	must(t, err)
	if !got.CreatedAt.Equal(task.CreatedAt) || !got.CreatedAt.Equal(start.Add(time.Nanosecond)) {
		t.Fatalf("CreatedAt reads back as %s, stored %s", got.CreatedAt, task.CreatedAt)
	}
}

func (s *suite) auditRedact(t *testing.T) {
	st := s.open(t)
	if s.o.SetRedact == nil {
		t.Skip("the adapter gives no SetRedact hook")
	}
	s.o.SetRedact(st, func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "hunter2", "[redacted]")) })
	_, err := st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "secret", Data: map[string]any{"password": "hunter2"}})
	must(t, err)
	newTask(t, st, "hunter2-task") // ids are not data: kept as given
	_, err = st.Transition(ctx, "hunter2-task", agentos.StateCreated, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{Reason: agentos.Str("uses hunter2")}, agentos.TransitionDetail{})
	must(t, err)
	evs, err := st.Events(ctx, agentos.EventFilter{})
	must(t, err)
	for _, e := range evs {
		if strings.Contains(string(e.Data), "hunter2") {
			t.Fatalf("event %d data holds the secret: %s", e.Seq, e.Data)
		}
	}
	verify(t, st, 3)
}

func (s *suite) auditTamper(t *testing.T) {
	st := s.open(t)
	if s.o.Tamper == nil {
		t.Skip("the adapter gives no Tamper hook")
	}
	for i := range 6 {
		_, err := st.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "test", Data: map[string]any{"x": i}})
		must(t, err)
	}
	verify(t, st, 6)
	s.o.Tamper(t, st, 4)
	n, err := st.VerifyChain(ctx)
	var ce *agentos.ChainError
	if !errors.As(err, &ce) || agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("VerifyChain after an edit = %d, %v; want a ChainError", n, err)
	}
	if ce.Seq != 4 || n != 3 {
		t.Fatalf("VerifyChain names event %d after checking %d, want event 4 after 3", ce.Seq, n)
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// takeExpired is the decide every acquirer here uses: refuse a live holder,
// take over expired ones.
func takeExpired(holders []agentos.Lease) ([]agentos.Lease, error) {
	for _, h := range holders {
		if !h.Expired {
			return nil, agentos.Errorf(agentos.ECONFLICT, "held by %s", h.ID)
		}
	}
	return holders, nil
}

func lease(id string, at time.Time, ttl time.Duration, keys ...string) agentos.Lease {
	return agentos.Lease{ID: id, Owner: "owner-" + id, Keys: keys, Acquired: at, Heartbeat: at, Expires: at.Add(ttl)}
}

func (s *suite) leases(t *testing.T) {
	st := s.open(t)
	l1, err := st.AcquireLease(ctx, lease("L1", base, time.Minute, "task:t1", "file:main:src/a.go", "integrate:main"), takeExpired)
	must(t, err)
	if l1.Token <= 0 {
		t.Fatalf("fencing token %d", l1.Token)
	}
	got, err := st.Lease(ctx, "L1", base)
	must(t, err)
	if got == nil || got.Owner != "owner-L1" || got.Token != l1.Token || !slices.Equal(got.Keys, []string{"file:main:src/a.go", "integrate:main", "task:t1"}) ||
		!got.Expires.Equal(base.Add(time.Minute)) || !got.Acquired.Equal(base) || got.Expired {
		t.Fatalf("Lease(L1) = %+v", got)
	}
	// Conflicts: the same key, a directory above a held file, a file under
	// a held directory. Disjoint keys and other targets do not conflict.
	for _, keys := range [][]string{{"task:t1"}, {"file:main:src"}, {"integrate:main", "task:other"}} {
		var seen []agentos.Lease
		_, err := st.AcquireLease(ctx, lease("X", base.Add(time.Second), time.Minute, keys...), func(h []agentos.Lease) ([]agentos.Lease, error) {
			seen = h
			return takeExpired(h)
		})
		wantCode(t, err, agentos.ECONFLICT, fmt.Sprintf("acquire %v while L1 holds", keys))
		if len(seen) != 1 || seen[0].ID != "L1" {
			t.Fatalf("decide for %v saw %+v, want L1", keys, seen)
		}
	}
	if l, _ := st.Lease(ctx, "X", base); l != nil {
		t.Fatalf("a refused acquisition left %+v", l)
	}
	l2, err := st.AcquireLease(ctx, lease("L2", base, time.Minute, "file:main:src/b.go", "file:other:src", "task:t2"), func(h []agentos.Lease) ([]agentos.Lease, error) {
		if len(h) != 0 {
			return nil, fmt.Errorf("disjoint keys saw holders %+v", h)
		}
		return nil, nil
	})
	must(t, err)
	dir, err := st.AcquireLease(ctx, lease("L3", base, time.Minute, "file:main:docs"), takeExpired)
	must(t, err)
	_, err = st.AcquireLease(ctx, lease("X", base, time.Minute, "file:main:docs/x/y.md"), takeExpired)
	wantCode(t, err, agentos.ECONFLICT, "a file under a held directory")
	if !(l1.Token < l2.Token && l2.Token < dir.Token) {
		t.Fatalf("tokens %d %d %d do not increase", l1.Token, l2.Token, dir.Token)
	}
	// LeaseHolding is exact.
	if h, err := st.LeaseHolding(ctx, "file:main:src/a.go", base); err != nil || h == nil || h.ID != "L1" {
		t.Fatalf("LeaseHolding(a.go) = %+v, %v", h, err)
	}
	if h, err := st.LeaseHolding(ctx, "file:main:src", base); err != nil || h != nil {
		t.Fatalf("LeaseHolding(src) = %+v, %v; want none", h, err)
	}
	// Renew moves expiry.
	ok, err := st.RenewLease(ctx, "L1", base.Add(30*time.Second), base.Add(90*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("RenewLease of a held lease = false")
	}
	got, _ = st.Lease(ctx, "L1", base.Add(80*time.Second))
	if !got.Expires.Equal(base.Add(90*time.Second)) || !got.Heartbeat.Equal(base.Add(30*time.Second)) || got.Expired {
		t.Fatalf("renewed lease %+v", got)
	}
	// Leases: all oldest first, or only the expired.
	all, err := st.Leases(ctx, base.Add(70*time.Second), false)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("Leases = %+v", all)
	}
	exp, err := st.Leases(ctx, base.Add(70*time.Second), true)
	must(t, err)
	if len(exp) != 2 || exp[0].ID == "L1" || exp[1].ID == "L1" || !exp[0].Expired {
		t.Fatalf("expired Leases = %+v, want L2 and L3", exp)
	}
	// Expired takeover: a new lease takes the expired holder's keys.
	taker, err := st.AcquireLease(ctx, lease("L4", base.Add(2*time.Minute), time.Minute, "task:t1"), takeExpired)
	must(t, err)
	if taker.Token <= dir.Token {
		t.Fatalf("takeover token %d not above %d", taker.Token, dir.Token)
	}
	if l, _ := st.Lease(ctx, "L1", base); l != nil {
		t.Fatalf("the taken-over lease is still there: %+v", l)
	}
	if ok, err := st.RenewLease(ctx, "L1", base.Add(2*time.Minute), base.Add(3*time.Minute)); err != nil || ok {
		t.Fatalf("RenewLease after takeover = %v, %v; want false", ok, err)
	}
	// Release.
	if ok, err := st.ReleaseLease(ctx, "L4"); err != nil || !ok {
		t.Fatalf("ReleaseLease = %v, %v", ok, err)
	}
	if ok, err := st.ReleaseLease(ctx, "L4"); err != nil || ok {
		t.Fatalf("second ReleaseLease = %v, %v; want false", ok, err)
	}
	// An acquisition that decide refuses with its own error changes nothing.
	boom := errors.New("boom")
	if _, err := st.AcquireLease(ctx, lease("L5", base.Add(time.Hour), time.Minute, "task:t2"), func([]agentos.Lease) ([]agentos.Lease, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("decide's error came back as %v", err)
	}
	if h, _ := st.LeaseHolding(ctx, "task:t2", base); h == nil || h.ID != "L2" {
		t.Fatalf("a refused takeover removed the holder: %+v", h)
	}
	// Leases carry no audit of their own.
	if n := head(t, st); n != 0 {
		t.Fatalf("lease operations appended %d events", n)
	}
}

// leaseContention: many handles acquire pairwise-conflicting key sets at
// once; never two holders, and tokens grow in acquisition order.
func (s *suite) leaseContention(t *testing.T) {
	handles := make([]agentos.Store, s.o.Workers)
	for i := range handles {
		handles[i] = s.open(t)
	}
	// Every pair of these conflicts: the same key, or a directory above.
	sets := [][]string{
		{"file:main:dir"},
		{"file:main:dir/a"},
		{"file:main:dir/a/b.txt"},
		{"file:main:dir/a/b.txt", "task:z"},
		{"task:z", "file:main:dir/a"}, // conflicts with the first three through dir/a, the fourth through task:z
	}
	const rounds = 15
	var (
		inside    atomic.Int32
		mu        sync.Mutex
		lastToken int64
		acquired  int
		wg        sync.WaitGroup
	)
	errs := make(chan error, len(handles)*rounds)
	for w, h := range handles {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("w%d-r%d", w, r)
				// Leases never expire here: only release frees them.
				l, err := h.AcquireLease(ctx, lease(id, base, time.Hour, sets[(w+r)%len(sets)]...), takeExpired)
				if agentos.ErrorCode(err) == agentos.ECONFLICT {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- fmt.Errorf("%d holders of conflicting keys at once", n)
				}
				mu.Lock()
				if l.Token <= lastToken {
					errs <- fmt.Errorf("token %d after %d", l.Token, lastToken)
				}
				lastToken = l.Token
				acquired++
				mu.Unlock()
				inside.Add(-1)
				if ok, err := h.ReleaseLease(ctx, id); err != nil || !ok {
					errs <- fmt.Errorf("release %s: %v %v", id, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if acquired == 0 {
		t.Fatal("no acquisition succeeded")
	}
	left, err := handles[0].Leases(ctx, base, false)
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("leases left after every release: %+v", left)
	}
	t.Logf("%d of %d acquisitions succeeded", acquired, len(handles)*rounds)
}

// leaseCrashTakeover: the holder's process dies (its handle closes without
// releasing); nobody gets the keys before the expiry, someone does after,
// and the dead holder's late heartbeat is refused.
func (s *suite) leaseCrashTakeover(t *testing.T) {
	dead := s.open(t)
	l, err := dead.AcquireLease(ctx, lease("crashed", base, time.Minute, "task:t", "file:main:x"), takeExpired)
	must(t, err)
	must(t, dead.Close())
	live := s.open(t)
	got, err := live.Lease(ctx, "crashed", base.Add(time.Minute))
	must(t, err)
	if got == nil || !got.Expired {
		t.Fatalf("the crashed lease at its expiry reads %+v, want expired", got)
	}
	_, err = live.AcquireLease(ctx, lease("early", base.Add(59*time.Second), time.Minute, "file:main:x"), takeExpired)
	wantCode(t, err, agentos.ECONFLICT, "acquire before the dead holder's expiry")
	nl, err := live.AcquireLease(ctx, lease("after", base.Add(time.Minute), time.Minute, "file:main:x"), takeExpired)
	must(t, err)
	if nl.Token <= l.Token {
		t.Fatalf("takeover token %d not above the dead holder's %d", nl.Token, l.Token)
	}
	if h, _ := live.LeaseHolding(ctx, "task:t", base); h != nil {
		t.Fatalf("the taken-over lease kept its other key: %+v", h)
	}
	if ok, err := live.RenewLease(ctx, "crashed", base.Add(2*time.Minute), base.Add(3*time.Minute)); err != nil || ok {
		t.Fatalf("the dead holder's heartbeat = %v, %v; want false", ok, err)
	}
}

func (s *suite) forceRelease(t *testing.T) {
	st := s.open(t)
	_, err := st.AcquireLease(ctx, lease("F1", base, time.Hour, "task:f"), takeExpired)
	must(t, err)
	ev := func(l agentos.Lease) agentos.EventInput {
		return agentos.EventInput{Actor: agentos.Human("ann"), Kind: "lock.force_released", Data: map[string]any{"lease": l.ID, "keys": l.Keys, "owner": l.Owner}}
	}
	// An event that cannot be written keeps the lease.
	_, err = st.ForceReleaseLease(ctx, "F1", func(agentos.Lease) agentos.EventInput {
		return agentos.EventInput{Actor: agentos.System, Kind: "bad", Data: unencodable}
	})
	if err == nil {
		t.Fatal("a force release whose event cannot be encoded succeeded")
	}
	if h, _ := st.LeaseHolding(ctx, "task:f", base); h == nil {
		t.Fatal("a failed force release removed the lease")
	}
	got, err := st.ForceReleaseLease(ctx, "F1", ev)
	must(t, err)
	if got.ID != "F1" || got.Owner != "owner-F1" {
		t.Fatalf("ForceReleaseLease returned %+v", got)
	}
	if h, _ := st.LeaseHolding(ctx, "task:f", base); h != nil {
		t.Fatalf("force-released lease still holds: %+v", h)
	}
	evs, err := st.Events(ctx, agentos.EventFilter{Kind: "lock.force_released"})
	must(t, err)
	if len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"lease":"F1"`) || evs[0].Actor != agentos.Human("ann") {
		t.Fatalf("force release audited %+v", evs)
	}
	_, err = st.ForceReleaseLease(ctx, "F1", ev)
	wantCode(t, err, agentos.ENOTFOUND, "force release of a released lease")
	verify(t, st, 1)
}

func approval(task, hash string, who agentos.Actor) agentos.Approval {
	return agentos.Approval{Task: task, Kind: agentos.KindApprove, PlanID: "p-" + hash, PlanHash: hash,
		Binding: agentos.ApprovalBinding{Base: "base", PolicyHash: "pol", MemoryHash: "mem"}, Actor: who, Comment: "lgtm", Rules: []string{"r1"}}
}

func (s *suite) approvals(t *testing.T) {
	st := s.open(t)
	clk := &fixedClock{now: base}
	if s.o.SetClock != nil {
		s.o.SetClock(st, clk.Now)
	}
	yes := func([]agentos.Approval) (bool, error) { return true, nil }
	ev := func(k string) agentos.EventInput {
		return agentos.EventInput{Task: "ta", Actor: agentos.Human("ann"), Kind: k}
	}
	must(t, st.RecordApproval(ctx, approval("ta", "h1", agentos.Human("ann")), yes, ev("approval.recorded")))
	var seen []agentos.Approval
	must(t, st.RecordApproval(ctx, approval("ta", "h2", agentos.Human("bob")), func(a []agentos.Approval) (bool, error) { seen = a; return true, nil }, ev("approval.recorded")))
	if len(seen) != 1 || seen[0].Actor != agentos.Human("ann") || seen[0].PlanHash != "h1" {
		t.Fatalf("decide saw %+v, want ann's approval", seen)
	}
	// decide false: nothing stored, nothing audited.
	n0 := head(t, st)
	must(t, st.RecordApproval(ctx, approval("ta", "h2", agentos.Human("cy")), func([]agentos.Approval) (bool, error) { return false, nil }, ev("approval.recorded")))
	// decide error: returned, nothing stored.
	boom := agentos.Errorf(agentos.EDENIED, "the author cannot approve")
	if err := st.RecordApproval(ctx, approval("ta", "h2", agentos.Human("dee")), func([]agentos.Approval) (bool, error) { return false, boom }, ev("approval.recorded")); !errors.Is(err, boom) {
		t.Fatalf("decide's error came back as %v", err)
	}
	// An event that cannot be written drops the approval with it.
	if err := st.RecordApproval(ctx, approval("ta", "h2", agentos.Human("eve")), yes, agentos.EventInput{Actor: agentos.System, Kind: "bad", Data: unencodable}); err == nil {
		t.Fatal("an approval whose event cannot be encoded was recorded")
	}
	// An agent is never an approver: the store refuses the row itself.
	if err := st.RecordApproval(ctx, approval("ta", "h2", agentos.Actor("agent:x")), yes); err == nil {
		t.Fatal("the store recorded an approval by an agent")
	}
	if n := head(t, st); n != n0 {
		t.Fatalf("refused approvals appended %d events", n-n0)
	}
	active, err := st.ActiveApprovals(ctx, "ta")
	must(t, err)
	if len(active) != 2 || active[0].Actor != agentos.Human("ann") || active[1].Actor != agentos.Human("bob") {
		t.Fatalf("ActiveApprovals = %+v", active)
	}
	a := active[0]
	if a.ID == 0 || a.Kind != agentos.KindApprove || a.PlanID != "p-h1" || a.Binding.Base != "base" || a.Binding.PolicyHash != "pol" || a.Binding.MemoryHash != "mem" ||
		a.Comment != "lgtm" || !slices.Equal(a.Rules, []string{"r1"}) || !a.ClearedAt.IsZero() || a.Cleared != "" {
		t.Fatalf("approval reads back as %+v", a)
	}
	if s.o.SetClock != nil && !a.Time.Equal(base) {
		t.Fatalf("approval time %s, want the store clock's %s", a.Time, base)
	}
	// Clear everything not bound to h2: history keeps it.
	clk.Add(time.Hour)
	n, err := st.ClearApprovals(ctx, "ta", "h2", "re-planned")
	must(t, err)
	if n != 1 {
		t.Fatalf("ClearApprovals cleared %d, want 1", n)
	}
	if n, _ := st.ClearApprovals(ctx, "ta", "h2", "again"); n != 0 {
		t.Fatalf("a second ClearApprovals cleared %d", n)
	}
	active, _ = st.ActiveApprovals(ctx, "ta")
	if len(active) != 1 || active[0].PlanHash != "h2" {
		t.Fatalf("active after clear = %+v", active)
	}
	hist, err := st.Approvals(ctx, "ta")
	must(t, err)
	if len(hist) != 2 || hist[0].Cleared != "re-planned" || hist[0].ClearedAt.IsZero() || hist[1].Cleared != "" {
		t.Fatalf("history after clear = %+v", hist)
	}
	if s.o.SetClock != nil && !hist[0].ClearedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("cleared at %s", hist[0].ClearedAt)
	}
	if other, _ := st.Approvals(ctx, "other"); len(other) != 0 {
		t.Fatalf("another task's approvals: %+v", other)
	}
	verify(t, st, 2)
}

// approvalRace: one person approving from many processes at once counts
// once, because decide runs serialised over the active approvals.
func (s *suite) approvalRace(t *testing.T) {
	handles := make([]agentos.Store, s.o.Workers)
	for i := range handles {
		handles[i] = s.open(t)
	}
	onlyOnce := func(active []agentos.Approval) (bool, error) {
		for _, a := range active {
			if a.Actor == agentos.Human("ann") {
				return false, agentos.Errorf(agentos.ECONFLICT, "ann already approved")
			}
		}
		return true, nil
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	errs := make(chan error, len(handles))
	for _, h := range handles {
		wg.Go(func() {
			err := h.RecordApproval(ctx, approval("tr", "h", agentos.Human("ann")), onlyOnce, agentos.EventInput{Task: "tr", Actor: agentos.Human("ann"), Kind: "approval.recorded"})
			switch agentos.ErrorCode(err) {
			case "":
				ok.Add(1)
			case agentos.ECONFLICT:
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := handles[0].Approvals(ctx, "tr")
	must(t, err)
	if ok.Load() != 1 || len(all) != 1 {
		t.Fatalf("%d racing approvals by one person succeeded, %d stored; want 1", ok.Load(), len(all))
	}
	verify(t, handles[0], 1)
}

func (s *suite) commits(t *testing.T) {
	st := s.open(t)
	newTask(t, st, "tc")
	c1 := agentos.CommitRow{SHA: "aaa", Task: "tc", Run: "r1", Branch: "main", PlanHash: "ph", DiffHash: "dh", IntentID: "i1", Kind: "change", Trailers: map[string]string{"AgentOS-Task": "tc"}}
	must(t, st.AddCommit(ctx, c1, agentos.System))
	c2 := c1
	c2.SHA, c2.Kind = "bbb", "rollback"
	must(t, st.AddCommit(ctx, c2, agentos.System))
	n0 := head(t, st)
	dup := c1
	dup.Branch = "evil"
	if err := st.AddCommit(ctx, dup, agentos.System); err == nil {
		t.Fatal("a second record of a commit was accepted")
	}
	if n := head(t, st); n != n0 {
		t.Fatal("a refused commit record was audited")
	}
	got, err := st.Commit(ctx, "aaa")
	must(t, err)
	if got.Branch != "main" || got.Trailers["AgentOS-Task"] != "tc" || got.Kind != "change" || got.PlanHash != "ph" || got.DiffHash != "dh" || got.IntentID != "i1" || got.Run != "r1" {
		t.Fatalf("Commit(aaa) = %+v: a duplicate replaced it or it did not round-trip", got)
	}
	_, err = st.Commit(ctx, "ccc")
	wantCode(t, err, agentos.ENOTFOUND, "unknown commit")
	of, err := st.CommitsOf(ctx, "tc")
	must(t, err)
	all, err := st.Commits(ctx)
	must(t, err)
	if len(of) != 2 || of[0].SHA != "aaa" || of[1].SHA != "bbb" || len(all) != 2 || all[1].Kind != "rollback" {
		t.Fatalf("CommitsOf = %+v, Commits = %+v", of, all)
	}
	evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventCommit})
	if len(evs) != 2 {
		t.Fatalf("%d commit events, want 2", len(evs))
	}
	verify(t, st, -1)
}

func (s *suite) runs(t *testing.T) {
	st := s.open(t)
	newTask(t, st, "tr")
	r := &agentos.Run{ID: "r1", Task: "tr", PlanHash: "ph", Worktree: "/wt"}
	must(t, st.CreateRun(ctx, r))
	must(t, st.CreateRun(ctx, &agentos.Run{ID: "r2", Task: "tr", PlanHash: "ph"}))
	r.Outcome, r.Commit, r.Unconfined = agentos.StateCommitted, "abc", true
	must(t, st.FinishRun(ctx, r))
	got, err := st.Run(ctx, "r1")
	must(t, err)
	if got.Outcome != agentos.StateCommitted || got.Commit != "abc" || !got.Unconfined || got.Worktree != "/wt" || got.StartedAt.IsZero() || got.EndedAt.IsZero() {
		t.Fatalf("Run(r1) = %+v", got)
	}
	_, err = st.Run(ctx, "nope")
	wantCode(t, err, agentos.ENOTFOUND, "unknown run")
	ids, err := st.RunsOf(ctx, "tr")
	must(t, err)
	if !slices.Equal(ids, []string{"r1", "r2"}) {
		t.Fatalf("RunsOf = %v", ids)
	}
	for i, ph := range []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify} {
		must(t, st.AddRecord(ctx, "tr", agentos.StepRecord{Run: "r1", Phase: ph, Index: i, Kind: "exec", Summary: "s", Argv: []string{"go", "test"}, OK: true}, agentos.System))
	}
	recs, err := st.Records(ctx, "r1")
	must(t, err)
	if len(recs) != 3 || recs[0].Phase != agentos.PhasePlan || recs[2].Phase != agentos.PhaseVerify || !slices.Equal(recs[1].Argv, []string{"go", "test"}) {
		t.Fatalf("Records = %+v", recs)
	}
	if evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventStep}); len(evs) != 3 || evs[0].Run != "r1" || evs[0].Task != "tr" {
		t.Fatalf("step events = %+v", evs)
	}
	// A diff need not be UTF-8 (a Latin-1 file): it round-trips byte for byte.
	diff := "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-caf\xe9\n+caf\xe8\n"
	must(t, st.AddPatch(ctx, "r1", agentos.PatchRecord{Path: "x", Diff: diff, DiffHash: "dh1", IntentID: "i"}))
	must(t, st.AddPatch(ctx, "r1", agentos.PatchRecord{Path: "y", Diff: "d2", DiffHash: "dh2", IntentID: "i"}))
	ps, err := st.Patches(ctx, "r1")
	must(t, err)
	if len(ps) != 2 || ps[0].Diff != diff || ps[1].Path != "y" {
		t.Fatalf("Patches = %+v", ps)
	}
	// Gate decisions: empty is an empty list; saving replaces the plan's.
	gd, err := st.GateDecisions(ctx, "tr", "ph")
	must(t, err)
	if gd == nil || len(gd) != 0 {
		t.Fatalf("no gate decisions = %#v, want an empty list", gd)
	}
	ds := []agentos.GateDecision{{RuleID: "a", Effect: "allow", Step: -1}, {RuleID: "b", Effect: "ask", Step: 0}}
	must(t, st.SaveGateDecisions(ctx, "tr", "ph", ds, agentos.System))
	must(t, st.SaveGateDecisions(ctx, "tr", "ph", ds[1:], agentos.System))
	gd, _ = st.GateDecisions(ctx, "tr", "ph")
	if len(gd) != 1 || gd[0].RuleID != "b" {
		t.Fatalf("GateDecisions after re-save = %+v", gd)
	}
	if evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventGate}); len(evs) != 3 {
		t.Fatalf("%d gate events, want 3 (each decision audited when saved)", len(evs))
	}
	verify(t, st, -1)
}

func (s *suite) reviews(t *testing.T) {
	st := s.open(t)
	clk := &fixedClock{now: base}
	if s.o.SetClock != nil {
		s.o.SetClock(st, clk.Now)
	}
	newTask(t, st, "tv")
	_, _, err := st.Review(ctx, "tv")
	wantCode(t, err, agentos.ENOTFOUND, "no review yet")
	// Markdown need not be UTF-8 (it quotes diffs): it round-trips byte for byte.
	md := "# Review\n\nLatin-1 in a diff: caf\xe9\n"
	must(t, st.SaveReview(ctx, &agentos.ReviewPack{Version: 1, Task: "tv", Run: "r1", Outcome: agentos.StateFailed, Goal: "g", Hash: "h1"}, "first"))
	clk.Add(time.Second)
	must(t, st.SaveReview(ctx, &agentos.ReviewPack{Version: 1, Task: "tv", Run: "r2", Outcome: agentos.StateCommitted, Goal: "g", Hash: "h2"}, md))
	rp, gotMD, err := st.Review(ctx, "tv")
	must(t, err)
	if rp.Run != "r2" || rp.Hash != "h2" || rp.Outcome != agentos.StateCommitted || gotMD != md {
		t.Fatalf("Review = %+v %q, want the newest (r2) with %q", rp, gotMD, md)
	}
	// A run's ReviewPack is written once: a second is refused, not replaced.
	n0 := head(t, st)
	if err := st.SaveReview(ctx, &agentos.ReviewPack{Version: 1, Task: "tv", Run: "r2", Outcome: agentos.StateFailed, Hash: "h3"}, "forged"); err == nil {
		t.Fatal("a second ReviewPack for one run was accepted")
	}
	if n := head(t, st); n != n0 {
		t.Fatal("a refused ReviewPack was audited")
	}
	rp, gotMD, _ = st.Review(ctx, "tv")
	if rp.Hash != "h2" || gotMD != md {
		t.Fatalf("a refused ReviewPack replaced the stored one: %+v %q", rp, gotMD)
	}
	if evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventReview, Task: "tv"}); len(evs) != 2 {
		t.Fatalf("%d review events, want 2", len(evs))
	}
}

func (s *suite) questionAnswerPacks(t *testing.T) {
	st := s.open(t)
	clk := &fixedClock{now: base}
	if s.o.SetClock != nil {
		s.o.SetClock(st, clk.Now)
	}
	newTask(t, st, "tq")
	_, err := st.LatestQuestionPack(ctx, "tq")
	wantCode(t, err, agentos.ENOTFOUND, "no questions")
	q1 := &agentos.QuestionPack{Version: 1, ID: "q1", Task: "tq", Mode: agentos.ModeSemiAuto, Questions: []agentos.Question{{ID: "a", Text: "which?", Kind: "text", Options: []string{}, Blocker: true}}}
	must(t, st.SaveQuestionPack(ctx, q1))
	if q1.Hash == "" || q1.Hash != q1.ComputeHash() {
		t.Fatalf("SaveQuestionPack did not hash: %q", q1.Hash)
	}
	clk.Add(time.Second)
	q2 := &agentos.QuestionPack{Version: 1, ID: "q2", Task: "tq", Mode: agentos.ModeSemiAuto, Questions: []agentos.Question{}}
	must(t, st.SaveQuestionPack(ctx, q2))
	got, err := st.LatestQuestionPack(ctx, "tq")
	must(t, err)
	if got.ID != "q2" || got.Hash != q2.Hash {
		t.Fatalf("LatestQuestionPack = %+v", got)
	}
	if as, err := st.AnswerPacks(ctx, "tq"); err != nil || len(as) != 0 {
		t.Fatalf("no answers = %+v, %v", as, err)
	}
	a1 := &agentos.AnswerPack{Version: 1, Pack: "q1", PackHash: q1.Hash, Answers: []agentos.Answer{{Question: "a", Value: "x"}}, Who: agentos.Human("ann"), When: base}
	must(t, st.SaveAnswerPack(ctx, "tq", a1))
	clk.Add(time.Second)
	a2 := &agentos.AnswerPack{Version: 1, Pack: "q2", PackHash: q2.Hash, Answers: []agentos.Answer{}, Who: agentos.Human("ann"), When: base}
	must(t, st.SaveAnswerPack(ctx, "tq", a2))
	as, err := st.AnswerPacks(ctx, "tq")
	must(t, err)
	if len(as) != 2 || as[0].Pack != "q1" || as[1].Pack != "q2" || as[0].Hash != a1.ComputeHash() || as[0].Answers[0].Value != "x" {
		t.Fatalf("AnswerPacks = %+v", as)
	}
}

func (s *suite) memoryPacks(t *testing.T) {
	st := s.open(t)
	newTask(t, st, "tm")
	_, err := st.LatestMemoryPack(ctx, "tm")
	wantCode(t, err, agentos.ENOTFOUND, "no MemoryPack")
	m1 := &agentos.MemoryPack{Version: 1, ID: "m1", Task: "tm", Query: agentos.MemoryQuery{Text: "q", Paths: []string{}, BudgetBytes: 10},
		Items: []agentos.PackedItem{{ID: "i1", Kind: "fact", Text: "t", Scope: []string{}, Score: 0.5}}}
	must(t, st.SaveMemoryPack(ctx, m1, agentos.System))
	if m1.Hash == "" || m1.Hash != m1.ComputeHash() {
		t.Fatalf("SaveMemoryPack did not hash: %q", m1.Hash)
	}
	m2 := &agentos.MemoryPack{Version: 1, ID: "m2", Task: "tm", Query: agentos.MemoryQuery{Text: "other", Paths: []string{}}, Items: []agentos.PackedItem{}}
	must(t, st.SaveMemoryPack(ctx, m2, agentos.System))
	got, err := st.MemoryPackByHash(ctx, "tm", m1.Hash)
	must(t, err)
	if got.ID != "m1" || got.ComputeHash() != m1.Hash || got.Items[0].Score != 0.5 {
		t.Fatalf("MemoryPackByHash = %+v", got)
	}
	_, err = st.MemoryPackByHash(ctx, "other-task", m1.Hash)
	wantCode(t, err, agentos.ENOTFOUND, "a pack of another task")
	_, err = st.MemoryPackByHash(ctx, "tm", "sha256:nope")
	wantCode(t, err, agentos.ENOTFOUND, "unknown pack hash")
	latest, err := st.LatestMemoryPack(ctx, "tm")
	must(t, err)
	if latest.ID != "m2" || latest.Hash != m2.Hash {
		t.Fatalf("LatestMemoryPack = %+v", latest)
	}
	evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventMemoryPack})
	if len(evs) != 2 || !strings.Contains(string(evs[0].Data), m1.Hash) || !strings.Contains(string(evs[0].Data), `"i1"`) {
		t.Fatalf("memory pack events = %+v", evs)
	}
	// A pack id is stored once.
	if err := st.SaveMemoryPack(ctx, &agentos.MemoryPack{Version: 1, ID: "m1", Task: "tm", Items: []agentos.PackedItem{}}, agentos.System); err == nil {
		t.Fatal("a second pack with id m1 was stored")
	}
	verify(t, st, -1)
}

func (s *suite) plansAndIntents(t *testing.T) {
	st := s.open(t)
	newTask(t, st, "tp")
	p1 := &agentos.Plan{Version: 1, ID: "p1", Task: "tp", Goal: "g", BaseCommit: "base", MemoryPackHash: "mh", PolicyHash: "ph",
		Steps: []agentos.Step{{Kind: "write", Path: "a.txt", Content: "hello"}}, Verify: []agentos.Check{}}
	must(t, st.SavePlan(ctx, p1, agentos.System))
	if p1.Hash == "" || p1.Hash != p1.ComputeHash() {
		t.Fatalf("SavePlan did not hash: %q", p1.Hash)
	}
	p2 := &agentos.Plan{Version: 1, ID: "p2", Task: "tp", Goal: "g2", Steps: []agentos.Step{}, Verify: []agentos.Check{}}
	must(t, st.SavePlan(ctx, p2, agentos.System))
	got, hash, err := st.Plan(ctx, "p1")
	must(t, err)
	if hash != p1.Hash || got.Hash != p1.Hash || got.ComputeHash() != p1.Hash || got.Steps[0].Content != "hello" {
		t.Fatalf("Plan(p1) = %+v, %s", got, hash)
	}
	_, _, err = st.Plan(ctx, "p9")
	wantCode(t, err, agentos.ENOTFOUND, "unknown plan")
	of, err := st.PlansOf(ctx, "tp")
	must(t, err)
	if len(of) != 2 || of[0] != [2]string{"p1", p1.Hash} || of[1] != [2]string{"p2", p2.Hash} {
		t.Fatalf("PlansOf = %v", of)
	}
	// A plan is immutable: its id is stored once.
	if err := st.SavePlan(ctx, &agentos.Plan{Version: 1, ID: "p1", Task: "tp", Goal: "evil", Steps: []agentos.Step{}, Verify: []agentos.Check{}}, agentos.System); err == nil {
		t.Fatal("a second plan with id p1 was stored")
	}
	if got, _, _ := st.Plan(ctx, "p1"); got.Goal != "g" {
		t.Fatalf("a refused plan replaced p1: %+v", got)
	}
	if evs, _ := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventPlanStored}); len(evs) != 2 {
		t.Fatalf("%d plan events, want 2", len(evs))
	}
	in := &agentos.Intent{Version: 1, ID: "i1", Task: "tp", Goal: "g", Scope: []string{"a"}}
	must(t, st.SaveIntent(ctx, in))
	if in.Hash == "" {
		t.Fatal("SaveIntent did not hash")
	}
	gi, err := st.Intent(ctx, "i1")
	must(t, err)
	if gi.Goal != "g" || gi.Hash != in.Hash {
		t.Fatalf("Intent = %+v", gi)
	}
	in2 := &agentos.Intent{Version: 1, ID: "i1", Task: "tp", Goal: "g2"}
	must(t, st.SaveIntent(ctx, in2))
	if gi, _ := st.Intent(ctx, "i1"); gi.Goal != "g2" {
		t.Fatalf("re-saved intent reads %+v", gi)
	}
	_, err = st.Intent(ctx, "i9")
	wantCode(t, err, agentos.ENOTFOUND, "unknown intent")
	verify(t, st, -1)
}

// largeBodies: a plan file, a step body and a patch of StreamMin bytes or
// more are kept once, as blobs: the plan comes back whole and still hashes
// to its hash (invalid UTF-8 included), a task read carries a reference
// instead of the file, a patch comes back by reference with its size, and
// Blob reads each back byte for byte.
func (s *suite) largeBodies(t *testing.T) {
	st := s.open(t)
	big := strings.Repeat("x", agentos.StreamMin) + "\xff\n" // not UTF-8: content_base64 in the hash
	src := "version: 1\n# " + strings.Repeat("y", agentos.StreamMin) + "\n"
	task := &agentos.Task{ID: "tb", Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("alice"), Target: "main", Source: src}
	must(t, st.CreateTask(ctx, task))
	got, err := st.Task(ctx, "tb")
	must(t, err)
	if got.Source != "" || got.SourceBlob != agentos.BlobHash(src) {
		t.Fatalf("task read back with %d bytes of source and blob %q, want a reference", len(got.Source), got.SourceBlob)
	}
	if b, err := st.Blob(ctx, got.SourceBlob); err != nil || b != src {
		t.Fatalf("Blob(source) = %d bytes, %v", len(b), err)
	}
	p := &agentos.Plan{Version: 1, ID: "pb", Task: "tb", Goal: "g", Steps: []agentos.Step{
		{Kind: "write", Path: "a.bin", Content: big}, {Kind: "write", Path: "b.bin", Content: big}, {Kind: "write", Path: "c.txt", Content: "small"}},
		Verify: []agentos.Check{}}
	must(t, st.SavePlan(ctx, p, agentos.System))
	if p.Hash != canonjson.MustDigest(func() agentos.Plan { q := *p; q.Hash = ""; return q }()) {
		t.Fatal("a plan with large bodies hashed differently from its whole encoding")
	}
	gp, hash, err := st.Plan(ctx, "pb")
	must(t, err)
	if hash != p.Hash || gp.Steps[0].Content != big || gp.Steps[1].Content != big || gp.Steps[2].Content != "small" || gp.ComputeHash() != p.Hash {
		t.Fatalf("plan with large bodies did not round-trip (hash %s, want %s)", hash, p.Hash)
	}
	// Without its bodies: the same plan, every body empty, the stored hash.
	hp, hh, err := st.PlanWithoutBodies(ctx, "pb")
	must(t, err)
	want := *gp
	want.Steps = slices.Clone(gp.Steps)
	for i := range want.Steps {
		want.Steps[i].Content, want.Steps[i].Diff = "", ""
	}
	if hh != p.Hash || !reflect.DeepEqual(*hp, want) {
		t.Fatalf("plan without bodies read back as %+v (hash %s), want %+v (hash %s)", hp, hh, want, p.Hash)
	}
	_, _, err = st.PlanWithoutBodies(ctx, "nope")
	wantCode(t, err, agentos.ENOTFOUND, "an unknown plan without bodies")
	must(t, st.CreateRun(ctx, &agentos.Run{ID: "rb", Task: "tb", PlanHash: p.Hash}))
	must(t, st.AddPatch(ctx, "rb", agentos.PatchRecord{Path: "a.bin", Diff: big, DiffHash: "dh", IntentID: "i"}))
	ps, err := st.Patches(ctx, "rb")
	must(t, err)
	if len(ps) != 1 || ps[0].Diff != "" || ps[0].DiffBlob != agentos.BlobHash(big) || ps[0].DiffBytes != int64(len(big)) || ps[0].DiffHash != "dh" {
		t.Fatalf("large patch read back as %d bytes, blob %q, size %d", len(ps[0].Diff), ps[0].DiffBlob, ps[0].DiffBytes)
	}
	if b, err := st.Blob(ctx, ps[0].DiffBlob); err != nil || b != big {
		t.Fatalf("Blob(patch) = %d bytes, %v", len(b), err)
	}
	_, err = st.Blob(ctx, agentos.BlobHash("nothing"))
	wantCode(t, err, agentos.ECONFLICT, "a missing blob")
	verify(t, st, -1)
}
