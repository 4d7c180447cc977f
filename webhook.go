package agentos

import (
	"context"
	"time"
)

// EventWebhookDelivery is audited for every attempt to deliver a webhook
// (package webhooks): the audit log is both the source the deliverer tails
// and the record of what it sent where.
const EventWebhookDelivery = "webhook.delivery"

// Webhook delivery statuses, as audited and as a cursor's last result.
const (
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // this attempt failed; another follows after a backoff
	WebhookGivenUp   = "given_up"  // the last allowed attempt failed; the next event goes
	WebhookExpired   = "expired"   // older than the endpoint's max_age when its turn came: not sent
)

// WebhookDeliveryEvent is the data of webhook.delivery: one attempt to
// deliver one event to one endpoint. URL is the endpoint's address without
// its query or credentials (and redacted: a Slack webhook URL is a secret);
// Error is redacted like all audit data.
type WebhookDeliveryEvent struct {
	Endpoint string `json:"endpoint"`
	URL      string `json:"url"`
	// EventID is the webhook-id / CloudEvents id the receiver saw.
	EventID string `json:"event_id"`
	// Seq is the audit event delivered (0 for `agentos webhooks test`).
	Seq        int64  `json:"seq"`
	Type       string `json:"type"`
	Attempt    int    `json:"attempt"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// WebhookCursor is where delivery to one endpoint stands: every audit event
// up to Seq is handled (delivered, given up, expired or filtered out), and
// Attempts attempts were made on event Event, the next to deliver.
type WebhookCursor struct {
	Endpoint string `json:"endpoint"`
	Seq      int64  `json:"seq"`
	// Event is the event the failed attempts were made on (0: none).
	Event    int64 `json:"event,omitempty"`
	Attempts int   `json:"attempts,omitempty"`
	// LastStatus, LastError and LastHTTP describe the last attempt.
	LastStatus string    `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	LastHTTP   int       `json:"last_http,omitempty"`
	LastTime   time.Time `json:"last_time,omitzero"`
	Updated    time.Time `json:"updated"`
}

// WebhookStore keeps one delivery cursor per webhook endpoint (by name),
// so deliveries resume where they stopped after a crash or restart.
// Both store adapters implement it (storetest checks them).
type WebhookStore interface {
	// WebhookCursor returns the endpoint's cursor, or nil when it has none.
	WebhookCursor(ctx context.Context, endpoint string) (*WebhookCursor, error)
	// WebhookCursors lists every cursor, by endpoint name.
	WebhookCursors(ctx context.Context) ([]WebhookCursor, error)
	// SaveWebhookCursor stores next and appends evs in one transaction,
	// provided the stored cursor is still prev (nil: there is none yet),
	// compared on Seq, Event and Attempts; ECONFLICT when another
	// deliverer moved it.
	SaveWebhookCursor(ctx context.Context, prev *WebhookCursor, next WebhookCursor, evs ...EventInput) error
}

// SameWebhookPosition reports whether a stored cursor is still at prev:
// the compare of SaveWebhookCursor's compare-and-swap, the same in every
// adapter.
func SameWebhookPosition(stored, prev *WebhookCursor) bool {
	if stored == nil || prev == nil {
		return stored == nil && prev == nil
	}
	return stored.Seq == prev.Seq && stored.Event == prev.Event && stored.Attempts == prev.Attempts
}
