package config

import (
	"strings"
	"testing"
)

func TestWebhooks(t *testing.T) {
	const ok = "{name: ops, url: https://ops.example/h, secret_env: OPS_SECRET}"
	for _, tc := range []struct{ yaml, err string }{
		{"endpoints: [" + ok + "]", ""},
		{"public_url: https://agentos.example\nendpoints: [" + ok + "]", ""},
		{"endpoints: [{name: chat, url_env: SLACK_URL, format: slack, events: [blocked, awaiting_approval]}]", ""},
		{"endpoints: [{name: f, url_file: ~/.config/agentos/url, secret_file: /etc/agentos/s, attempts: 3, backoff: 1s, max_backoff: 1m, timeout: 5s, max_age: 1h}]", ""},
		{"endpoints: [{name: Ops, url: https://ops.example/h, secret_env: S}]", "name: \"Ops\""},
		{"endpoints: [" + ok + ", " + ok + "]", "used twice"},
		{"endpoints: [{name: ops, secret_env: S}]", "exactly one of url, url_env and url_file"},
		{"endpoints: [{name: ops, url: https://a/h, url_env: U, secret_env: S}]", "exactly one of url, url_env and url_file"},
		{"endpoints: [{name: ops, url: ftp://ops.example/h, secret_env: S}]", "not an http:// or https:// URL"},
		{"endpoints: [{name: ops, url: https://me:pw@ops.example/h, secret_env: S}]", "carries credentials"},
		{"endpoints: [{name: ops, url: \"https://ops.example/h?access_token=abc\", secret_env: S}]", "looks like a credential"},
		{"endpoints: [{name: chat, url: https://hooks.slack.com/services/T/B/X, format: slack}]", "a Slack webhook URL is a secret"},
		{"endpoints: [{name: ops, url: https://ops.example/h}]", "name its secret in secret_env or secret_file"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: S, secret_file: /s}]", "not both"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: \"A B\"}]", "not an environment variable name"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_file: rel/s}]", "absolute path"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: S, format: teams}]", "want cloudevents or slack"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: S, events: [planned]}]", "\"planned\" is not an event"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: S, attempts: 500}]", "attempts: 500"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret_env: S, backoff: soon}]", "backoff: \"soon\" is not a positive duration"},
		{"endpoints: [{name: ops, url: https://ops.example/h, secret: abc}]", "field secret is not a known key"},
		{"public_url: agentos.example\nendpoints: []", "webhooks.public_url"},
	} {
		y := "version: 1\nwebhooks:\n  " + strings.ReplaceAll(tc.yaml, "\n", "\n  ") + "\n"
		_, err := Parse([]byte(y), "agentos.yaml")
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: the error shows the URL's password: %v", tc.yaml, err)
		}
	}
}
