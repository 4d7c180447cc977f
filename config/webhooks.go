package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Webhooks says where task state changes are POSTed (package webhooks,
// docs/webhooks.md). Secrets are never here: an endpoint names the
// environment variable or file that holds its signing secret (and, for a
// URL that is itself a secret such as a Slack incoming webhook, its URL).
type Webhooks struct {
	// PublicURL is where people open AgentOS's web page
	// (https://agentos.example.com): a message links to PUBLIC_URL/tasks/ID.
	PublicURL string `yaml:"public_url"`
	// Endpoints receive the events, each in its own order.
	Endpoints []WebhookEndpoint `yaml:"endpoints"`
}

// WebhookEndpoint is one receiver.
type WebhookEndpoint struct {
	// Name identifies the endpoint: its delivery cursor, audit events and
	// `agentos webhooks test NAME`.
	Name string `yaml:"name"`
	// URL, or the environment variable (URLEnv) or file (URLFile) holding
	// it when the URL is itself a credential: exactly one.
	URL     string `yaml:"url"`
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
	// Events filters what is sent (WebhookEvents); empty: all of them.
	Events []string `yaml:"events"`
	// Format is cloudevents (default) or slack.
	Format string `yaml:"format"`
	// SecretEnv or SecretFile names where the HMAC signing secret is:
	// required for cloudevents, optional for slack.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Attempts bounds the attempts per event (default 8, at most 50).
	Attempts int `yaml:"attempts"`
	// Backoff is the wait before the first retry, doubled each retry up to
	// MaxBackoff (defaults 2s and 5m).
	Backoff    string `yaml:"backoff"`
	MaxBackoff string `yaml:"max_backoff"`
	// Timeout bounds one attempt (default 10s).
	Timeout string `yaml:"timeout"`
	// MaxAge: an event older than this when its turn comes is not sent
	// (default 24h); a new endpoint starts with the events of the last MaxAge.
	MaxAge string `yaml:"max_age"`
}

// Webhook formats.
const (
	WebhookFormatCloudEvents = "cloudevents"
	WebhookFormatSlack       = "slack"
)

// WebhookEvents are the task states an endpoint can receive, named as the
// states are.
var WebhookEvents = []string{"blocked", "awaiting_approval", "committed", "failed", "rejected", "cancelled", "rolled_back"}

// Defaults of an endpoint's delivery settings.
const (
	DefaultWebhookAttempts   = 8
	MaxWebhookAttempts       = 50
	DefaultWebhookBackoff    = 2 * time.Second
	DefaultWebhookMaxBackoff = 5 * time.Minute
	DefaultWebhookTimeout    = 10 * time.Second
	DefaultWebhookMaxAge     = 24 * time.Hour
)

var webhookName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`) })

// EventSet returns the states the endpoint receives.
func (e WebhookEndpoint) EventSet() []string {
	if len(e.Events) == 0 {
		return WebhookEvents
	}
	return e.Events
}

// FormatOrDefault is Format, cloudevents when empty.
func (e WebhookEndpoint) FormatOrDefault() string {
	if e.Format == "" {
		return WebhookFormatCloudEvents
	}
	return e.Format
}

// AttemptsOrDefault is Attempts, DefaultWebhookAttempts when 0.
func (e WebhookEndpoint) AttemptsOrDefault() int {
	if e.Attempts == 0 {
		return DefaultWebhookAttempts
	}
	return e.Attempts
}

func durationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// BackoffOrDefault is the first retry's wait.
func (e WebhookEndpoint) BackoffOrDefault() time.Duration {
	return durationOr(e.Backoff, DefaultWebhookBackoff)
}

// MaxBackoffOrDefault caps the wait between retries.
func (e WebhookEndpoint) MaxBackoffOrDefault() time.Duration {
	return durationOr(e.MaxBackoff, DefaultWebhookMaxBackoff)
}

// TimeoutOrDefault bounds one attempt.
func (e WebhookEndpoint) TimeoutOrDefault() time.Duration {
	return durationOr(e.Timeout, DefaultWebhookTimeout)
}

// MaxAgeOrDefault is the age past which an event is not sent.
func (e WebhookEndpoint) MaxAgeOrDefault() time.Duration {
	return durationOr(e.MaxAge, DefaultWebhookMaxAge)
}

// Webhook returns the endpoint named name.
func (w Webhooks) Webhook(name string) (WebhookEndpoint, bool) {
	for _, e := range w.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return WebhookEndpoint{}, false
}

// CheckWebhookURL checks an endpoint URL from any source; what names the
// source in the message. The URL is not echoed: it may be a credential.
func CheckWebhookURL(what, raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s: not an http:// or https:// URL with a host", what)
	}
	if u.User != nil {
		return fmt.Errorf("%s: the URL carries credentials; put a secret in secret_env or secret_file, never in the URL", what)
	}
	for k := range u.Query() {
		if credentialParam().MatchString(k) {
			return fmt.Errorf("%s: the query parameter %q looks like a credential; read such a URL from url_env or url_file", what, k)
		}
	}
	return nil
}

// credentialParam names query parameters that usually carry a credential.
var credentialParam = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)token|key|secret|pass|sig|auth|code|credential`)
})

func validateWebhooks(c *Config) error {
	w := c.Webhooks
	if w.PublicURL != "" {
		if err := CheckWebhookURL("webhooks.public_url", w.PublicURL); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, e := range w.Endpoints {
		at := fmt.Sprintf("webhooks.endpoints[%d]", i)
		if !webhookName().MatchString(e.Name) {
			return fmt.Errorf("%s.name: %q: want lower-case letters, digits, '-' or '_' (e.g. ops-alerts)", at, e.Name)
		}
		at = fmt.Sprintf("webhooks.endpoints[%s]", e.Name)
		if seen[e.Name] {
			return fmt.Errorf("%s: the name is used twice; each endpoint has its own", at)
		}
		seen[e.Name] = true
		n := 0
		for _, s := range []string{e.URL, e.URLEnv, e.URLFile} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: set exactly one of url, url_env and url_file", at)
		}
		if e.URL != "" {
			if err := CheckWebhookURL(at+".url", e.URL); err != nil {
				return err
			}
			if strings.Contains(strings.ToLower(e.URL), "hooks.slack.com") {
				// The path of a Slack incoming webhook is its credential.
				return fmt.Errorf("%s.url: a Slack webhook URL is a secret and this file is committed: put it in an environment variable and name it in url_env", at)
			}
		}
		if e.URLEnv != "" && !envNameRe().MatchString(e.URLEnv) {
			return fmt.Errorf("%s.url_env: %q is not an environment variable name", at, e.URLEnv)
		}
		if e.SecretEnv != "" && !envNameRe().MatchString(e.SecretEnv) {
			return fmt.Errorf("%s.secret_env: %q is not an environment variable name", at, e.SecretEnv)
		}
		for _, f := range []struct{ key, val string }{{"url_file", e.URLFile}, {"secret_file", e.SecretFile}} {
			if f.val != "" && !strings.HasPrefix(f.val, "~/") && !filepath.IsAbs(f.val) {
				return fmt.Errorf("%s.%s: %q: name an absolute path (or ~/…) outside the repository", at, f.key, f.val)
			}
		}
		if e.SecretEnv != "" && e.SecretFile != "" {
			return fmt.Errorf("%s: set one of secret_env and secret_file, not both", at)
		}
		switch e.FormatOrDefault() {
		case WebhookFormatCloudEvents:
			if e.SecretEnv == "" && e.SecretFile == "" {
				return fmt.Errorf("%s: a cloudevents endpoint is signed: name its secret in secret_env or secret_file (the secret itself never goes in this file)", at)
			}
		case WebhookFormatSlack:
		default:
			return fmt.Errorf("%s.format: %q: want cloudevents or slack", at, e.Format)
		}
		for _, ev := range e.Events {
			if !slices.Contains(WebhookEvents, ev) {
				return fmt.Errorf("%s.events: %q is not an event; want one of %s", at, ev, strings.Join(WebhookEvents, ", "))
			}
		}
		if e.Attempts < 0 || e.Attempts > MaxWebhookAttempts {
			return fmt.Errorf("%s.attempts: %d: want 1 to %d (0: the default, %d)", at, e.Attempts, MaxWebhookAttempts, DefaultWebhookAttempts)
		}
		for _, d := range []struct{ key, val string }{{"backoff", e.Backoff}, {"max_backoff", e.MaxBackoff}, {"timeout", e.Timeout}, {"max_age", e.MaxAge}} {
			if d.val == "" {
				continue
			}
			if v, err := time.ParseDuration(d.val); err != nil || v <= 0 {
				return fmt.Errorf("%s.%s: %q is not a positive duration (e.g. 2s, 5m, 24h)", at, d.key, d.val)
			}
		}
	}
	return nil
}
