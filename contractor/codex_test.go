package contractor

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/contractor/contractortest"
)

// TestCodexGoverned runs the real Codex CLI (npm, cached) against a scripted
// local Responses API: its tool calls go to the AgentOS hook (Codex's hook
// protocol); the patch outside the worktree and the denied command are
// refused, the rest lands as patch steps.
func TestCodexGoverned(t *testing.T) {
	bin := contractortest.CodexCLI(t)
	repo, base := mustRepo(t)
	f := &contractortest.FakeResponses{Script: []func(string) contractortest.CodexCall{
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Patch: "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n"}
		},
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Patch: "*** Begin Patch\n*** Add File: ../outside.txt\n+escaped\n*** End Patch\n"}
		},
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Shell: "curl -s http://127.0.0.1:9/ -o stolen.txt"}
		},
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Shell: "printf 'made by bash\\n' > bash.txt && rm gone.txt"}
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	// The model endpoint by the name a user writes for a local server:
	// allow_tcp localhost:PORT reaches the host's loopback.
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	engine, err := cmdrule.New(config.Commands{Allow: []string{"printf", "rm", "ls"}})
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "PATH" {
			return bin + string(os.PathListSeparator) + os.Getenv("PATH")
		}
		return os.Getenv(k)
	}
	argv := []string{"codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-hook-trust",
		"-C", "{worktree}",
		"-c", `model_provider="local"`, "-c", `model="gpt-5.5"`,
		"-c", `model_providers.local={name="local", base_url="` + local + `/v1", env_key="LOCAL_MODEL_KEY", wire_api="responses"}`,
		"{prompt}"}
	var transcript bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Spec{
		Name: "codex", Repo: repo, Base: base, Prompt: "Create hello.txt, then tidy up.", IntentID: "int-codex",
		Argv:     argv,
		Env:      map[string]string{"LOCAL_MODEL_KEY": "sk-local"},
		Getenv:   getenv,
		Rules:    Rules{Allow: []string{"printf", "rm", "ls"}, Shell: ShellRule(engine)},
		HookArgv: []string{testExe(t), "__hook_codex"},
		StateDir: filepath.Join(filepath.Dir(repo), "state"),
		AllowTCP: []string{strings.TrimPrefix(local, "http://")}, Timeout: 2 * time.Minute,
		Transcript: &transcript,
	})
	if err != nil {
		t.Fatalf("Run: %v\ntranscript:\n%s", err, tail(transcript.String(), 4000))
	}
	t.Logf("codex exit %d in %dms (unconfined %v); tools offered: %v; cwd: %s", res.ExitCode, res.DurationMS, res.Unconfined, f.Tools(), f.Cwd)
	for _, d := range res.Decisions {
		t.Logf("decision %d: %s %s%s -> allow=%v (%s: %s)", d.Seq, d.Tool, d.Path, d.Command, d.Allow, d.Rule, d.Reason)
	}
	results := f.Results()
	for _, id := range []string{"call_2", "call_3"} {
		if !strings.Contains(results[id], "AgentOS") {
			t.Errorf("tool output of %s = %q, want the AgentOS refusal", id, results[id])
		}
	}
	want := []bool{true, false, false, true}
	if len(res.Decisions) < len(want) {
		t.Fatalf("%d hook decisions, want %d: is the hook live?", len(res.Decisions), len(want))
	}
	for i, w := range want {
		if res.Decisions[i].Allow != w {
			t.Errorf("decision %d allow = %v, want %v", i+1, res.Decisions[i].Allow, w)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(repo), "outside.txt")); err == nil {
		t.Errorf("outside.txt exists: the patch outside the worktree got through")
	}
	got := map[string]bool{}
	for _, s := range res.Steps {
		got[strings.Join(s.Paths, ",")] = true
	}
	for _, p := range []string{"hello.txt", "bash.txt", "gone.txt"} {
		if !got[p] {
			t.Errorf("no patch step for %s; got %v\ntranscript:\n%s", p, got, tail(transcript.String(), 3000))
		}
	}
	if len(got) != 3 {
		t.Errorf("steps %v, want exactly hello.txt, bash.txt, gone.txt", got)
	}
}
