package session

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

func TestEndpoints(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	os.WriteFile(filepath.Join(home, ".codex", "config.toml"), []byte("model_provider = \"corp\"\n[model_providers.corp]\nname = \"corp\"\nbase_url = \"https://llm.corp.example/v1\"\n"), 0o600)
	os.MkdirAll(filepath.Join(home, ".config", "opencode"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "opencode", "opencode.json"), []byte(`{"provider":{"local":{"options":{"baseURL":"http://127.0.0.1:8080/v1"}}}}`), 0o600)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		name  string
		agent string
		args  []string
		env   map[string]string
		home  string
		want  []string
	}{
		{"claude default", "claude", nil, nil, t.TempDir(), []string{"api.anthropic.com:443"}},
		{"claude base url", "claude", nil, map[string]string{"ANTHROPIC_BASE_URL": "http://127.0.0.1:4000"}, home, []string{"127.0.0.1:4000"}},
		{"codex config and env", "codex", nil, map[string]string{"OPENAI_BASE_URL": "https://gw.example"}, home, []string{"gw.example:443", "llm.corp.example:443"}},
		{"codex -c argument", "codex", []string{"-c", `model_providers.local={name="local", base_url="http://localhost:9999/v1"}`}, nil, t.TempDir(), []string{"localhost:9999"}},
		{"codex default", "codex", nil, nil, t.TempDir(), []string{"api.openai.com:443", "chatgpt.com:443", "auth.openai.com:443"}},
		{"opencode config", "opencode", nil, nil, home, []string{"127.0.0.1:8080"}},
		{"opencode content", "opencode", nil, map[string]string{"OPENCODE_CONFIG_CONTENT": `{"provider":{"x":{"options":{"baseURL":"https://x.example:8443"}}}}`}, t.TempDir(), []string{"x.example:8443"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Endpoints(c.agent, c.args, env(c.env), c.home, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Endpoints = %v, want %v", got, c.want)
			}
		})
	}
	if _, err := Endpoints("claude", nil, env(map[string]string{"ANTHROPIC_BASE_URL": "ftp://x"}), home, ""); err == nil {
		t.Errorf("an ftp endpoint was accepted")
	}
}

// TestAttachForwardsResize: the agent's pty starts at the person's window
// size and follows it when the window changes (SIGWINCH).
func TestAttachForwardsResize(t *testing.T) {
	outer, outerTTY, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	defer outerTTY.Close()
	pty.Setsize(outer, &pty.Winsize{Rows: 33, Cols: 101})
	a, err := attach(outerTTY, outerTTY)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	size := func() (int, int) {
		r, c, err := pty.Getsize(a.tty)
		if err != nil {
			t.Fatal(err)
		}
		return r, c
	}
	if r, c := size(); r != 33 || c != 101 {
		t.Fatalf("the agent's terminal is %dx%d, want 33x101", r, c)
	}
	pty.Setsize(outer, &pty.Winsize{Rows: 50, Cols: 160})
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	for i := 0; i < 200; i++ {
		if r, c := size(); r == 50 && c == 160 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r, c := size(); r != 50 || c != 160 {
		t.Errorf("after a resize the agent's terminal is %dx%d, want 50x160", r, c)
	}
	// Keys typed by the person reach the agent, Ctrl-C as a byte (the
	// agent's terminal in raw mode, as a TUI sets it).
	if _, err := term.MakeRaw(int(a.tty.Fd())); err != nil {
		t.Fatal(err)
	}
	a.tty.SetReadDeadline(time.Now().Add(30 * time.Second))
	outer.Write([]byte("hi\x03"))
	buf := make([]byte, 16)
	got := ""
	for len(got) < 3 {
		n, err := a.tty.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += string(buf[:n])
	}
	if got != "hi\x03" {
		t.Errorf("the agent read %q, want \"hi\\x03\"", got)
	}
}

func TestCheckpointRegistry(t *testing.T) {
	state := t.TempDir()
	if _, err := RequestCheckpoint(state, ""); err == nil {
		t.Errorf("a checkpoint with no session running succeeded")
	}
	dir := filepath.Join(state, "sessions")
	os.MkdirAll(dir, 0o700)
	// A record of a process that is gone is dropped, never signalled.
	os.WriteFile(filepath.Join(dir, "tgone.json"), []byte(`{"task":"tgone","agent":"claude","pid":999999999}`), 0o600)
	rs, err := List(state)
	if err != nil || len(rs) != 0 {
		t.Errorf("List = %v, %v; want nothing", rs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tgone.json")); err == nil {
		t.Errorf("the stale record stayed")
	}
}

func TestCodexConfigArgs(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	os.WriteFile(filepath.Join(home, ".codex", "config.toml"), []byte(`# mine
model = "gpt-x"
model_provider = "corp"
approval_policy = "never"

[model_providers.corp]
name = "corp"
base_url = "https://llm.corp.example/v1"
env_key = "CORP_KEY"

[[hooks.PreToolUse]]
matcher = "*"
`), 0o600)
	got := codexConfigArgs(func(string) string { return "" }, home)
	want := []string{"-c", `model="gpt-x"`, "-c", `model_provider="corp"`, "-c", `model_providers.corp.name="corp"`,
		"-c", `model_providers.corp.base_url="https://llm.corp.example/v1"`, "-c", `model_providers.corp.env_key="CORP_KEY"`}
	if !slices.Equal(got, want) {
		t.Errorf("codexConfigArgs = %q\nwant %q", got, want)
	}
	if codexConfigArgs(func(string) string { return "" }, t.TempDir()) != nil {
		t.Errorf("no config gave arguments")
	}
}

func TestOpenCodeConfigContent(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "opencode"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "opencode", "opencode.json"),
		[]byte(`{"provider":{"local":{"options":{"baseURL":"http://127.0.0.1:8080/v1"}}},"model":"local/m","plugin":["evil"],"permission":{"bash":"allow"}}`), 0o600)
	got := openCodeConfigContent(func(string) string { return "" }, home)
	if got != `{"model":"local/m","provider":{"local":{"options":{"baseURL":"http://127.0.0.1:8080/v1"}}}}` {
		t.Errorf("openCodeConfigContent = %s", got)
	}
}
