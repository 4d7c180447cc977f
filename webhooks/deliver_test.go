package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/storetest/memstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time        { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)   { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                 { return &clock{t: time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)} }
func (c *clock) set(s *memstore.Store) { s.Now = c.Now }
func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// receiver answers 503 to the first fail requests, then 204, and keeps the
// ids it saw.
type receiver struct {
	mu   sync.Mutex
	fail int
	ids  []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, req.Header.Get(HeaderID))
	if len(r.ids) <= r.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func transition(t *testing.T, s *memstore.Store, task string, to agentos.State) int64 {
	t.Helper()
	evs, err := s.Append(context.Background(), agentos.EventInput{Task: task, Actor: agentos.System, Kind: agentos.EventTransition,
		Data: agentos.TransitionEvent{From: agentos.StatePlanning, To: to}})
	mustT(t, err)
	return evs[0].Seq
}

func setup(t *testing.T, rc *receiver, ep config.WebhookEndpoint) (*memstore.Store, *clock, func() *Deliverer, *Endpoint) {
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s := memstore.Open()
	c := newClock()
	c.set(s)
	ep.Name, ep.URL, ep.SecretEnv = "ops", srv.URL, "S"
	pol := config.Webhooks{Endpoints: []config.WebhookEndpoint{ep}}
	mk := func() *Deliverer {
		return New(Options{Store: s, Policy: pol, Now: c.Now, Getenv: func(string) string { return "a secret of sixteen+ bytes" }, Poll: time.Millisecond})
	}
	res, err := mk().Resolve(ep)
	mustT(t, err)
	return s, c, mk, res
}

func deliveries(t *testing.T, s *memstore.Store) []agentos.WebhookDeliveryEvent {
	t.Helper()
	evs, err := s.Events(context.Background(), agentos.EventFilter{Kind: agentos.EventWebhookDelivery})
	mustT(t, err)
	var out []agentos.WebhookDeliveryEvent
	for _, e := range evs {
		var d agentos.WebhookDeliveryEvent
		mustT(t, json.Unmarshal(e.Data, &d))
		out = append(out, d)
	}
	return out
}

// A restarted deliverer (a new process) resumes the event it was retrying,
// with the same message id and the attempt count the store kept: the bound
// holds across restarts, and the next event waits for the first.
func TestResumeAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	rc := &receiver{fail: 100}
	s, c, mk, ep := setup(t, rc, config.WebhookEndpoint{Attempts: 3, Backoff: "1m"})
	first := transition(t, s, "t1", agentos.StateBlocked)
	transition(t, s, "t2", agentos.StateCommitted)

	busy, err := mk().Step(ctx, ep) // a new endpoint: its cursor starts
	mustT(t, err)
	if !busy {
		t.Fatal("the first Step made no cursor")
	}
	for i := 1; i <= 3; i++ {
		// Each attempt by a fresh deliverer, after the backoff.
		_, err := mk().Step(ctx, ep)
		mustT(t, err)
		c.Add(10 * time.Minute)
	}
	ids := rc.seen()
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("receiver saw %q, want three attempts of one message", ids)
	}
	ds := deliveries(t, s)
	if len(ds) != 3 || ds[0].Attempt != 1 || ds[2].Attempt != 3 || ds[2].Status != agentos.WebhookGivenUp || ds[1].Status != agentos.WebhookFailed || ds[0].Seq != first {
		t.Fatalf("audited %+v, want attempts 1..3 of event %d, the last given up", ds, first)
	}
	cur, err := s.WebhookCursor(ctx, "ops")
	mustT(t, err)
	if cur.Seq != first || cur.Attempts != 0 || cur.LastStatus != agentos.WebhookGivenUp {
		t.Fatalf("cursor %+v, want past event %d, given up", cur, first)
	}
	// Only now the second event.
	rc.mu.Lock()
	rc.fail = 0
	rc.mu.Unlock()
	_, err = mk().Step(ctx, ep)
	mustT(t, err)
	if ids := rc.seen(); len(ids) != 4 || ids[3] == ids[0] {
		t.Fatalf("receiver saw %q, want the second event fourth", ids)
	}
}

// A failed attempt is not retried before its backoff, also by another
// deliverer.
func TestBackoffHeldAcrossDeliverers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rc := &receiver{fail: 100}
	s, _, mk, ep := setup(t, rc, config.WebhookEndpoint{Backoff: "1h"})
	transition(t, s, "t1", agentos.StateFailed)
	mustT(t, func() error { _, err := mk().Step(ctx, ep); return err }())
	mustT(t, func() error { _, err := mk().Step(ctx, ep); return err }())
	// The clock does not move: the next Step waits (until ctx ends).
	mk().Step(ctx, ep)
	if n := len(rc.seen()); n != 1 {
		t.Fatalf("receiver saw %d attempts within the backoff, want 1", n)
	}
}

// A new endpoint starts with the events of the last max_age; an event that
// is older when its turn comes is audited expired, not sent.
func TestStartAndExpiry(t *testing.T) {
	ctx := context.Background()
	rc := &receiver{}
	s, c, mk, ep := setup(t, rc, config.WebhookEndpoint{MaxAge: "1h"})
	transition(t, s, "old", agentos.StateFailed)
	c.Add(2 * time.Hour)
	recent := transition(t, s, "new", agentos.StateFailed)
	mustT(t, func() error { _, err := mk().Step(ctx, ep); return err }())
	cur, _ := s.WebhookCursor(ctx, "ops")
	if cur.Seq != recent-1 {
		t.Fatalf("a new endpoint's cursor starts at %d, want %d (before the recent event)", cur.Seq, recent-1)
	}
	c.Add(2 * time.Hour) // the deliverer was down
	mustT(t, func() error { _, err := mk().Step(ctx, ep); return err }())
	if n := len(rc.seen()); n != 0 {
		t.Fatalf("receiver got %d expired events", n)
	}
	if ds := deliveries(t, s); len(ds) != 1 || ds[0].Status != agentos.WebhookExpired || ds[0].Seq != recent {
		t.Fatalf("audited %+v, want event %d expired", ds, recent)
	}
}

// Two deliverers at once (a worker and serve, two machines): each event
// reaches the receiver once, in order.
func TestOneDelivererPerEndpoint(t *testing.T) {
	rc := &receiver{}
	s, _, mk, _ := setup(t, rc, config.WebhookEndpoint{})
	// The cursor starts before the events (they are recent).
	var want []int64
	for i := range 20 {
		want = append(want, transition(t, s, "t", []agentos.State{agentos.StateBlocked, agentos.StateCommitted}[i%2]))
	}
	idle := make(chan struct{})
	close(idle)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { mk().Run(context.Background(), idle) })
	}
	wg.Wait()
	ids := rc.seen()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s delivered twice: %q", id, ids)
		}
		seen[id] = true
	}
	if len(ids) != len(want) {
		t.Fatalf("receiver saw %d messages, want %d", len(ids), len(want))
	}
}

// Draining (worker --until-idle) does not wait out a long backoff: the
// endpoint stops after the attempt, its count kept for the next run.
func TestDrainStopsAtLongBackoff(t *testing.T) {
	// A bound on a hang, not a timing assertion: without the drain rule
	// Run would sleep the hour of backoff.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := &receiver{fail: 100}
	s, _, mk, _ := setup(t, rc, config.WebhookEndpoint{Backoff: "1h"})
	transition(t, s, "t1", agentos.StateFailed)
	idle := make(chan struct{})
	close(idle)
	mustT(t, mk().Run(ctx, idle))
	if ctx.Err() != nil {
		t.Fatal("Run waited out the backoff instead of stopping")
	}
	cur, err := s.WebhookCursor(context.Background(), "ops")
	mustT(t, err)
	if n := len(rc.seen()); n != 1 || cur.Attempts != 1 {
		t.Fatalf("receiver saw %d attempts, cursor %+v; want 1 attempt kept", n, cur)
	}
}

// A redirect is a failed attempt, never followed: the receiver the policy
// names is the only one that gets the message.
func TestRedirectNotFollowed(t *testing.T) {
	other := &receiver{}
	osrv := httptest.NewServer(other)
	t.Cleanup(osrv.Close)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, osrv.URL, http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(redirect)
	t.Cleanup(srv.Close)
	s := memstore.Open()
	ep := config.WebhookEndpoint{Name: "ops", URL: srv.URL, SecretEnv: "S"}
	d := New(Options{Store: s, Policy: config.Webhooks{Endpoints: []config.WebhookEndpoint{ep}}, Getenv: func(string) string { return "a secret of sixteen+ bytes" }})
	res, err := d.Resolve(ep)
	mustT(t, err)
	r, err := d.Test(context.Background(), res, "x")
	mustT(t, err)
	if r.Status != agentos.WebhookFailed || r.HTTPStatus != http.StatusTemporaryRedirect || len(other.seen()) != 0 {
		t.Fatalf("redirect: %+v, the other server saw %d requests; want a failed attempt and none", r, len(other.seen()))
	}
}
