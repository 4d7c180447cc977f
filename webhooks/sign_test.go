package webhooks

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos/redact"
)

// The Standard Webhooks specification's own test vector: a receiver using
// any of its libraries accepts what Sign produces.
func TestSignStandardVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	h := func(ts int64, sig string) http.Header {
		x := http.Header{}
		x.Set(HeaderID, "id-1")
		x.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		x.Set(HeaderSignature, sig)
		return x
	}
	good := Sign(key, "id-1", now.Unix(), body)
	cases := []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"valid", h(now.Unix(), good), body, true},
		{"one of several", h(now.Unix(), "v1,AAAA "+good), body, true},
		{"body changed", h(now.Unix(), good), []byte(`{"a":2}`), false},
		{"timestamp changed", h(now.Unix()+1, good), body, false},
		{"too old", h(now.Unix()-600, Sign(key, "id-1", now.Unix()-600, body)), body, false},
		{"other key", h(now.Unix(), Sign([]byte("another key of 16+ bytes"), "id-1", now.Unix(), body)), body, false},
		{"missing", http.Header{}, body, false},
	}
	for _, tc := range cases {
		err := Verify(key, tc.h, tc.body, now, 5*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestParseSecret(t *testing.T) {
	if _, err := ParseSecret("short"); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := ParseSecret("whsec_!!notbase64!!"); err == nil {
		t.Error("whsec_ with non-base64 was accepted")
	}
	k, err := ParseSecret("  a raw secret of enough bytes\n")
	if err != nil || string(k) != "a raw secret of enough bytes" {
		t.Errorf("raw secret = %q, %v", k, err)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 10 * time.Second}, {60, 10 * time.Second}} {
		if got := Backoff(time.Second, 10*time.Second, tc.n); got != tc.want {
			t.Errorf("Backoff(1s, 10s, %d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestAuditURL(t *testing.T) {
	r := redact.Default()
	if got := AuditURL("https://u:p@example.com/hook?token=abc#x", r); got != "https://example.com/hook" {
		t.Errorf("AuditURL = %s", got)
	}
	if got := AuditURL("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", r); strings.Contains(got, "XXXX") {
		t.Errorf("AuditURL kept a Slack webhook's path: %s", got)
	}
}

// Outside text can neither make a link nor mention everyone in Slack.
func TestSlackText(t *testing.T) {
	d := TaskData{Task: "t1", State: "blocked", Goal: "<!channel> <https://evil|click>", URL: "https://agentos.example/tasks/t1"}
	got := slackText(d)
	if strings.Contains(got, "<!channel>") || strings.Contains(got, "<https://evil") {
		t.Errorf("slackText let markup through: %s", got)
	}
	if !strings.Contains(got, "<https://agentos.example/tasks/t1|Open the task>") {
		t.Errorf("slackText has no task link: %s", got)
	}
}
