package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// webhookCursors: a delivery cursor is created once, moved only from the
// position the mover read (a compare-and-swap), and moved together with
// the audit events of the attempt, or not at all.
func (s *suite) webhookCursors(t *testing.T) {
	st := s.open(t)
	ws, ok := st.(agentos.WebhookStore)
	if !ok {
		t.Fatalf("%T does not implement agentos.WebhookStore", st)
	}
	c, err := ws.WebhookCursor(ctx, "ops")
	must(t, err)
	if c != nil {
		t.Fatalf("WebhookCursor of a new store = %+v, want nil", c)
	}
	ev := func(status string, attempt int) agentos.EventInput {
		return agentos.EventInput{Actor: agentos.System, Kind: agentos.EventWebhookDelivery,
			Data: agentos.WebhookDeliveryEvent{Endpoint: "ops", URL: "https://example.com/h", EventID: "e-7", Seq: 7, Type: "t", Attempt: attempt, Status: status}}
	}

	first := agentos.WebhookCursor{Endpoint: "ops", Seq: 5}
	must(t, ws.SaveWebhookCursor(ctx, nil, first))
	if h := head(t, st); h != 0 {
		t.Fatalf("a cursor saved without events appended %d events", h)
	}
	wantCode(t, ws.SaveWebhookCursor(ctx, nil, agentos.WebhookCursor{Endpoint: "ops", Seq: 9}), agentos.ECONFLICT, "a second first cursor")

	got, err := ws.WebhookCursor(ctx, "ops")
	must(t, err)
	if got == nil || got.Seq != 5 || got.Updated.IsZero() {
		t.Fatalf("WebhookCursor = %+v, want seq 5 with an update time", got)
	}

	// A failed attempt: the cursor records it with its audit event.
	at := time.Date(2026, 12, 6, 22, 0, 0, 123456789, time.UTC)
	failed := agentos.WebhookCursor{Endpoint: "ops", Seq: 6, Event: 7, Attempts: 1, LastStatus: agentos.WebhookFailed, LastError: "HTTP 503", LastHTTP: 503, LastTime: at}
	must(t, ws.SaveWebhookCursor(ctx, got, failed, ev(agentos.WebhookFailed, 1)))
	if h := head(t, st); h != 1 {
		t.Fatalf("head after one audited attempt = %d, want 1", h)
	}
	got2, err := ws.WebhookCursor(ctx, "ops")
	must(t, err)
	if got2.Seq != 6 || got2.Event != 7 || got2.Attempts != 1 || got2.LastStatus != agentos.WebhookFailed || got2.LastError != "HTTP 503" || got2.LastHTTP != 503 || !got2.LastTime.Equal(at) {
		t.Fatalf("WebhookCursor after a failed attempt = %+v", got2)
	}

	// A stale mover (it read the cursor before the attempt) is refused and
	// appends nothing.
	wantCode(t, ws.SaveWebhookCursor(ctx, got, agentos.WebhookCursor{Endpoint: "ops", Seq: 7}, ev(agentos.WebhookDelivered, 1)), agentos.ECONFLICT, "a stale cursor")
	if h := head(t, st); h != 1 {
		t.Fatalf("a refused cursor move appended events: head %d, want 1", h)
	}

	// An event that cannot be appended leaves the cursor where it was.
	bad := agentos.EventInput{Actor: agentos.System, Kind: agentos.EventWebhookDelivery, Data: unencodable}
	if err := ws.SaveWebhookCursor(ctx, got2, agentos.WebhookCursor{Endpoint: "ops", Seq: 7}, bad); err == nil {
		t.Fatal("SaveWebhookCursor with unencodable event data succeeded")
	}
	if c, _ := ws.WebhookCursor(ctx, "ops"); c.Seq != 6 || c.Attempts != 1 {
		t.Fatalf("cursor after a failed save = %+v, want seq 6, 1 attempt", c)
	}

	// Many deliverers racing from the same position: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range s.o.Workers {
		h := s.open(t).(agentos.WebhookStore)
		wg.Go(func() {
			next := agentos.WebhookCursor{Endpoint: "ops", Seq: 7 + int64(i), LastStatus: agentos.WebhookDelivered}
			err := h.SaveWebhookCursor(ctx, got2, next, ev(agentos.WebhookDelivered, 2))
			switch {
			case err == nil:
				wins.Add(1)
			case agentos.ErrorCode(err) != agentos.ECONFLICT:
				t.Errorf("racing SaveWebhookCursor: %v, want success or ECONFLICT", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d racing deliverers moved the cursor, want exactly 1", n)
	}
	if h := head(t, st); h != 2 {
		t.Fatalf("head after the race = %d, want 2 (the winner's event only)", h)
	}
	verify(t, st, 2)

	must(t, ws.SaveWebhookCursor(ctx, nil, agentos.WebhookCursor{Endpoint: "chat", Seq: 1}))
	all, err := ws.WebhookCursors(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Endpoint != "chat" || all[1].Endpoint != "ops" {
		t.Fatalf("WebhookCursors = %+v, want chat then ops", all)
	}
}
