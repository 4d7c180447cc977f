package redact_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
)

// Fixtures are assembled at run time so this file itself does not look like
// it holds credentials.
func j(parts ...string) string { return strings.Join(parts, "") }

var (
	ghToken     = j("ghp_", strings.Repeat("aB3d", 9))
	awsKeyID    = j("AKIA", "IOSFODNN7EXAMPLE")
	awsSecret   = j("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY")
	openaiKey   = j("sk-proj-", strings.Repeat("Xy9_", 10))
	slackToken  = j("xoxb-", "123456789012-abcdefABCDEF")
	gcpKey      = j("AIza", "SyA1234567890abcdefghijklmnopqrstuv")
	jwt         = j("eyJhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", ".", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")
	privateKey  = j("-----BEGIN RSA ", "PRIVATE KEY-----\nMIIEowIBAAKCAQEA7v\nabcdef==\n-----END RSA ", "PRIVATE KEY-----")
	slackHook   = j("https://hooks.slack.com/services/", "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
	anthropicKy = j("sk-ant-", "api03-", strings.Repeat("q1W2", 8))
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"github", "token " + ghToken + " end", "token [REDACTED:github-token] end"},
		{"aws id", "id=" + awsKeyID, "id=[REDACTED:aws-access-key-id]"},
		{"aws secret", "aws_secret_access_key = " + awsSecret, "aws_secret_access_key = [REDACTED:aws-secret-access-key]"},
		{"openai", "OPENAI_API_KEY is " + openaiKey, "OPENAI_API_KEY is [REDACTED:openai-key]"},
		{"anthropic", "k " + anthropicKy, "k [REDACTED:anthropic-key]"},
		{"slack token", "SLACK " + slackToken, "SLACK [REDACTED:slack-token]"},
		{"slack webhook", "post " + slackHook + " now", "post [REDACTED:slack-webhook] now"},
		{"gcp", "key " + gcpKey, "key [REDACTED:gcp-api-key]"},
		{"jwt", "Bearer " + jwt, "Bearer [REDACTED:jwt]"},
		{"private key", "before\n" + privateKey + "\nafter", "before\n[REDACTED:private-key]\nafter"},
		{"password assign", "password=hunter22x", "password=[REDACTED:password]"},
		{"secret yaml", "client_secret: 's3cr3t-value'", "client_secret: [REDACTED:password]"},
		{"templated value still redacted", "password: ${{ secrets.PW }}", "password: [REDACTED:password] secrets.PW }}"},
		{"url credentials", "git clone https://bob:pa55word@example.com/r.git", "git clone https://bob:[REDACTED:url-credentials]@example.com/r.git"},
		// Glued to a word character, percent-encoded or after an escaped
		// line break: a word boundary before the prefix let these through.
		{"github glued", "x_" + ghToken + "_y", "x_[REDACTED:github-token]_y"},
		{"github url-encoded", "?t=%3D" + ghToken, "?t=%3D[REDACTED:github-token]"},
		{"github escaped json", `"a\n` + ghToken + `"`, `"a\n[REDACTED:github-token]"`},
		{"aws glued", "KEY_" + awsKeyID, "KEY_[REDACTED:aws-access-key-id]"},
		{"aws url-encoded", "id%3D" + awsKeyID, "id%3D[REDACTED:aws-access-key-id]"},
		{"aws twice", awsKeyID + " " + awsKeyID, "[REDACTED:aws-access-key-id] [REDACTED:aws-access-key-id]"},
		{"openai glued", "KEY_" + openaiKey, "KEY_[REDACTED:openai-key]"},
		{"openai escaped json", `"\n` + openaiKey + `"`, `"\n[REDACTED:openai-key]"`},
		{"gcp glued", "k_" + gcpKey, "k_[REDACTED:gcp-api-key]"},
		{"slack glued", "x_" + slackToken, "x_[REDACTED:slack-token]"},
		{"anthropic glued", "x_" + anthropicKy, "x_[REDACTED:anthropic-key]"},
		{"jwt glued", "tok=Bearer%20" + jwt, "tok=Bearer%20[REDACTED:jwt]"},
		// The prefixes that occur in ordinary words and encoded data still
		// need a left edge.
		{"word with sk- kept", "task-" + strings.Repeat("abcd", 6), "task-" + strings.Repeat("abcd", 6)},
		{"AKIA inside an upper-case run kept", "Q" + awsKeyID, "Q" + awsKeyID},
		{"AIza inside base64 kept", "iVBORw0KGgo" + gcpKey, "iVBORw0KGgo" + gcpKey},
		{"plain text kept", "nothing to see: go test ./...", "nothing to see: go test ./..."},
		{"idempotent", "password=[REDACTED:password]", "password=[REDACTED:password]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLooksSecret(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"github token", "x := \"" + ghToken + "\"", true},
		{"private key", privateKey, true},
		{"aws id", awsKeyID, true},
		{"literal password", `db_password = "Tr0ub4dor&3"`, true},
		{"env reference", `password := os.Getenv("DB_PASSWORD")`, false},
		{"field reference", "password: cfg.Password", false},
		{"template", "password: ${{ secrets.PW }}", false},
		{"short", "password=abc", false},
		{"placeholder", "password: changeme", false},
		{"prose", "Reset your password in the settings page.", false},
		{"code", "func main() { fmt.Println(\"hello\") }", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.LooksSecret(tc.in); got != tc.want {
				t.Errorf("LooksSecret(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewCustomPatterns(t *testing.T) {
	r, err := redact.New([]string{`ACME-[0-9]{6}`, `internal_ref=(\w+)`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String("id ACME-123456 and internal_ref=abc"), "id [REDACTED:custom] and internal_ref=[REDACTED:custom]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if !r.LooksSecret("ACME-654321") {
		t.Errorf("LooksSecret(custom) = false, want true")
	}
	if redact.LooksSecret("ACME-654321") {
		t.Errorf("default LooksSecret(custom) = true, want false")
	}
	for _, bad := range []string{`(`, `a*`} {
		if _, err := redact.New([]string{bad}); agentos.ErrorCode(err) != agentos.EINVALID {
			t.Errorf("New(%q) code = %q, want %q", bad, agentos.ErrorCode(err), agentos.EINVALID)
		}
	}
}

func TestJSON(t *testing.T) {
	in := json.RawMessage(`{"argv":["curl","-H","Authorization: Bearer ` + jwt + `"],"tail":"key:\n` + strings.ReplaceAll(privateKey, "\n", `\n`) + `","n":3}`)
	out := redact.Default().JSON(in)
	if !json.Valid(out) {
		t.Fatalf("JSON output is not valid JSON: %s", out)
	}
	s := string(out)
	if strings.Contains(s, "eyJzdWIi") || strings.Contains(s, "MIIEow") {
		t.Errorf("JSON left a secret: %s", s)
	}
	if !strings.Contains(s, "[REDACTED:jwt]") || !strings.Contains(s, "[REDACTED:private-key]") || !strings.Contains(s, `"n":3`) {
		t.Errorf("JSON = %s, want both secrets marked and other fields kept", s)
	}
	clean := json.RawMessage(`{"a": 1}`)
	if got := redact.Default().JSON(clean); string(got) != string(clean) {
		t.Errorf("JSON(clean) = %s, want it unchanged", got)
	}
	if got := redact.Default().JSON(json.RawMessage(`not json ` + ghToken)); !json.Valid(got) || strings.Contains(string(got), ghToken) {
		t.Errorf("JSON(invalid) = %s, want a redacted JSON string", got)
	}
}

func BenchmarkString(b *testing.B) {
	text := strings.Repeat("ok  \tgithub.com/agentos/agentos/policy\t0.012s\nrunning tests for package foo with flags -race\n", 40)
	b.ReportAllocs()
	for b.Loop() {
		redact.String(text)
	}
}

func TestPathIsNotASecret(t *testing.T) {
	for _, s := range []string{"PWD=/tmp/go-test-script1/repo/.agentos/worktrees/t1", "key_file: /etc/ssl/private/x.pem", "pwd = ./build/out"} {
		if redact.LooksSecret(s) {
			t.Errorf("LooksSecret(%q) = true: a path is not a secret", s)
		}
	}
	if !redact.LooksSecret(`pwd = "/Tr0ub4dor&3"`) {
		t.Errorf("a quoted literal that starts with / is still a secret")
	}
}
