package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestTelemetryRedacts: what AgentOS exports over OTLP (spans, their
// events and attributes, the audit log records) holds no token from a
// goal, labels or a failing check's output: the bytes sent to the
// collector are searched, not AgentOS's own account.
func TestTelemetryRedacts(t *testing.T) {
	rcv := &otlpReceiver{}
	col := httptest.NewServer(rcv)
	defer col.Close()
	dir := mustGovernedRepo(t, basePolicy+"otel:\n  endpoint: "+col.URL+"\n")
	os.WriteFile(filepath.Join(dir, "creds.txt"), []byte("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"), 0o644)
	gitT(t, dir, "add", "creds.txt")
	gitT(t, dir, "commit", "-q", "-m", "credentials a check prints")
	plan := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(plan, []byte("version: 1\ngoal: \"rotate ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u\"\nlabels: [\"k=AKIAZ7Q3XK4PLM2N8RTV\"]\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [cat, nonexistent, creds.txt]\n"), 0o644)
	if code, _, errOut := runCLI(t, "-C", dir, "run", "--plan", plan); code != 1 {
		t.Fatalf("agentos run: exit %d, want 1 (the check fails): %s", code, errOut)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.spans) == 0 || len(rcv.logs) == 0 {
		t.Fatalf("%d spans and %d log records exported: the test does not reach what it checks", len(rcv.spans), len(rcv.logs))
	}
	var sent []byte
	for _, s := range rcv.spans {
		b, _ := proto.Marshal(s)
		sent = append(sent, b...)
	}
	for _, l := range rcv.logs {
		b, _ := proto.Marshal(l)
		sent = append(sent, b...)
	}
	for _, tok := range []string{"ghp_R8xQ2mK9", "AKIAZ7Q3XK4P", "wJalrXUtnFEMI"} {
		if strings.Contains(string(sent), tok) {
			t.Errorf("the telemetry sent to the collector holds %s", tok)
		}
	}
	if !strings.Contains(string(sent), "REDACTED") {
		t.Errorf("no redacted text reached the collector: the audit records carry the goal, so the test does not see them")
	}
}
