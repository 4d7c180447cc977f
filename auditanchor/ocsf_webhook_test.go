package auditanchor

import (
	"encoding/json"
	"testing"

	"github.com/agentos/agentos"
)

// A webhook attempt that did not deliver reads as a failure in a SIEM.
func TestOCSFWebhookStatus(t *testing.T) {
	for _, tc := range []struct{ status, want string }{
		{agentos.WebhookDelivered, "Success"},
		{agentos.WebhookFailed, "Failure"},
		{agentos.WebhookGivenUp, "Failure"},
		{agentos.WebhookExpired, "Failure"},
	} {
		data, _ := json.Marshal(agentos.WebhookDeliveryEvent{Endpoint: "ops", Status: tc.status})
		got := OCSF(agentos.Event{Seq: 1, Actor: agentos.System, Kind: agentos.EventWebhookDelivery, Data: data}, "h")
		if got["status"] != tc.want {
			t.Errorf("status %s: OCSF status %v, want %s", tc.status, got["status"], tc.want)
		}
	}
}
