//go:build linux

package sandbox_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

func policyConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("version: 1\n"+yaml), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPolicyExpandsProfiles(t *testing.T) {
	home, repo := "/home/u", "/src/repo"
	cfg := policyConfig(t, `
sandbox:
  read_only: [/opt/sdk]
  profiles:
    python:
      read_only: ["~/.pyenv", .venv, "{home}/.cache/pip"]
      path: [.venv/bin]
      env: {PYTHONPYCACHEPREFIX: "{cache}/pycache", ROOT: "{repo}", LANG: C}
    go:
      read_only: ["~/go/pkg/mod"]
      env: {GOCACHE: "{cache}/go-build", GOMODCACHE: "{home}/go/pkg/mod"}
  hide: ["~/.config/secret-tool"]
`)
	p := sandbox.NewPolicy(cfg, repo, []string{"HOME=" + home, "PATH=/usr/bin:relative:/bin", "LANG=en_US.UTF-8", "GOCACHE=/host/cache"})
	wantRO := []string{"/opt/sdk", "/home/u/go/pkg/mod", "/home/u/.pyenv", "/src/repo/.venv", "/home/u/.cache/pip"}
	if !slices.Equal(p.ReadOnly, wantRO) {
		t.Errorf("ReadOnly = %q, want %q", p.ReadOnly, wantRO)
	}
	if !strings.HasPrefix(p.CacheDir, "/src/repo/.agentos/cache/") || p.CacheDir == "/src/repo/.agentos/cache/" {
		t.Errorf("CacheDir = %q: want a per-policy directory under the state dir", p.CacheDir)
	}
	if got := p.SearchPath([]string{"PATH=/usr/bin:relative:/bin"}); got != "/src/repo/.venv/bin:/usr/bin:/bin" {
		t.Errorf("SearchPath = %q", got)
	}
	env := p.CommandEnv([]string{"HOME=" + home, "PATH=/usr/bin:/bin", "LANG=en_US.UTF-8", "GOCACHE=/host/cache", "AWS_SECRET_ACCESS_KEY=x"}, []string{"GOCACHE"}, "/tmp/t")
	for _, want := range []string{"PATH=/src/repo/.venv/bin:/usr/bin:/bin", "HOME=/tmp/t", "GOCACHE=" + p.CacheDir + "/go-build",
		"GOMODCACHE=/home/u/go/pkg/mod", "PYTHONPYCACHEPREFIX=" + p.CacheDir + "/pycache", "ROOT=/src/repo", "LANG=C"} {
		if !slices.Contains(env, want) {
			t.Errorf("CommandEnv lacks %s: %q", want, env)
		}
	}
	for _, kv := range env {
		// The profile decides: the caller's GOCACHE (allow-listed) and LANG
		// must not also be there, and secrets never.
		if kv == "GOCACHE=/host/cache" || kv == "LANG=en_US.UTF-8" || strings.HasPrefix(kv, "AWS_") {
			t.Errorf("CommandEnv has %s", kv)
		}
	}
	for _, want := range []string{"/home/u/.ssh", "/home/u/.aws", "/home/u/.netrc", "/home/u/.npmrc", "/home/u/.cargo/credentials.toml", "/home/u/.config/secret-tool"} {
		if !slices.Contains(p.Hidden, want) {
			t.Errorf("Hidden lacks %s", want)
		}
	}
	// A different policy never shares the cache.
	other := sandbox.NewPolicy(policyConfig(t, "sandbox: {profiles: {go: {env: {GOCACHE: \"{cache}/go-build\"}}}}\n"), repo, []string{"HOME=" + home})
	if other.CacheDir == p.CacheDir {
		t.Error("two policies share one cache directory")
	}
}

func TestPolicyValidatesProfiles(t *testing.T) {
	for _, bad := range []string{
		"sandbox: {profiles: {x: {read_only: [../up]}}}",
		"sandbox: {profiles: {x: {env: {PATH: /bin}}}}",
		"sandbox: {profiles: {x: {env: {HOME: /tmp}}}}",
		"sandbox: {profiles: {x: {env: {A: \"{nope}/x\"}}}}",
		"sandbox: {profiles: {x: {tools: [/usr/bin/go]}}}",
		"sandbox: {profiles: {x: {cache: y}}}",
		"sandbox: {hide: [\"{home}/../etc\"]}",
	} {
		if _, err := config.Parse([]byte("version: 1\n"+bad+"\n"), "agentos.yaml"); err == nil {
			t.Errorf("%s: loaded, want an error", bad)
		} else {
			t.Logf("%s: %v", bad, err)
		}
	}
}

func TestPolicyVisible(t *testing.T) {
	home := t.TempDir()
	shims := filepath.Join(home, ".pyenv", "shims")
	must(t, os.MkdirAll(shims, 0o755))
	must(t, os.WriteFile(filepath.Join(shims, "python3"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "tool"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Symlink(filepath.Join(shims, "python3"), filepath.Join(home, "py-link")))

	bare := sandbox.NewPolicy(policyConfig(t, "sandbox: {read_only: [\"~/py-link\"]}\n"), t.TempDir(), []string{"HOME=" + home})
	if err := bare.Visible("/usr/bin/env", ""); err != nil {
		t.Errorf("a system program: %v", err)
	}
	err := bare.Visible(filepath.Join(shims, "python3"), "")
	if err == nil || !strings.Contains(agentos.ErrorMessage(err), "~/.pyenv") || !strings.Contains(agentos.ErrorMessage(err), "read_only") {
		t.Errorf("a toolchain under HOME the policy does not expose: %v, want a refusal naming ~/.pyenv and read_only", err)
	}
	// The link is visible, its target is not: refused, naming both.
	if err := bare.Visible(filepath.Join(home, "py-link"), ""); err == nil || !strings.Contains(agentos.ErrorMessage(err), "links to") {
		t.Errorf("a visible link to an invisible target: %v", err)
	}
	exposed := sandbox.NewPolicy(policyConfig(t, "sandbox: {profiles: {python: {read_only: [\"~\"]}}}\n"), t.TempDir(), []string{"HOME=" + home})
	if err := exposed.Visible(filepath.Join(shims, "python3"), ""); err != nil {
		t.Errorf("exposed by a profile: %v", err)
	}
	if err := exposed.Visible(filepath.Join(home, ".ssh", "tool"), ""); err == nil {
		t.Error("a program under ~/.ssh is visible even though credentials are hidden")
	}
	if err := bare.Visible("/srv/wt/tool", "/srv/wt"); err != nil {
		t.Errorf("a program in the worktree: %v", err)
	}
}

// TestPolicyHidesCredentials runs real commands with a profile that makes
// the whole home readable: the planted credentials read as empty, the rest
// of home is readable, and the cache is writable.
func TestPolicyHidesCredentials(t *testing.T) {
	b := newBox(t)
	secrets := map[string]string{
		".ssh/id_rsa": "-----BEGIN PRIVATE KEY-----", ".aws/credentials": "aws_secret_access_key=AKIA-PLANTED",
		".netrc": "machine x password netrc-planted", ".npmrc": "//registry/:_authToken=npm-planted",
		".cargo/credentials.toml": "token = \"cargo-planted\"", ".config/gh/hosts.yml": "oauth_token: gh-planted",
		".docker/config.json": `{"auths":{"x":{"auth":"docker-planted"}}}`,
	}
	for rel, body := range secrets {
		must(t, os.MkdirAll(filepath.Join(b.home, filepath.Dir(rel)), 0o755))
		must(t, os.WriteFile(filepath.Join(b.home, rel), []byte(body), 0o600))
	}
	// A credential reached through a link to a visible place is hidden too.
	must(t, os.MkdirAll(filepath.Join(b.home, "dotfiles"), 0o755))
	must(t, os.WriteFile(filepath.Join(b.home, "dotfiles", "pypirc"), []byte("password: pypi-planted"), 0o600))
	must(t, os.Symlink(filepath.Join(b.home, "dotfiles", "pypirc"), filepath.Join(b.home, ".pypirc")))
	must(t, os.WriteFile(filepath.Join(b.home, ".cargo", "config.toml"), []byte("[build]\nvisible = true\n"), 0o644))

	repo := filepath.Join(b.root, "repo")
	must(t, os.MkdirAll(repo, 0o755))
	cfg := policyConfig(t, "sandbox: {profiles: {all: {read_only: [\"~\"], env: {C: \"{cache}/x\"}}}}\n")
	p := sandbox.NewPolicy(cfg, repo, []string{"HOME=" + b.home})
	spec := b.spec(t, "/bin/sh", "-c", `cat "$H/.cargo/config.toml"; for f in .ssh/id_rsa .aws/credentials .netrc .npmrc .cargo/credentials.toml .config/gh/hosts.yml .docker/config.json .pypirc dotfiles/pypirc; do cat "$H/$f" 2>/dev/null; done; ls -a "$H/.ssh"; echo cached > "$CACHE/f" && echo cache-ok`)
	spec.Env = append(spec.Env, "H="+b.home, "CACHE="+p.CacheDir)
	must(t, p.Apply(&spec))
	out, res, err := b.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "visible = true") || !strings.Contains(out, "cache-ok") {
		t.Fatalf("the profile's home or the cache is not usable (exit %d): %s", res.ExitCode, out)
	}
	for rel, body := range secrets {
		if strings.Contains(out, body) {
			t.Errorf("%s was readable inside the sandbox", rel)
		}
	}
	if strings.Contains(out, "pypi-planted") || strings.Contains(out, "id_rsa") {
		t.Errorf("a credential leaked: %s", out)
	}
	if got, err := os.ReadFile(filepath.Join(p.CacheDir, "f")); err != nil || string(got) != "cached\n" {
		t.Errorf("the cache write did not persist: %q %v", got, err)
	}
	if st, err := os.Stat(p.CacheDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode: %v %v, want 0700", st.Mode(), err)
	}
}

// TestPolicyCacheInsideProtectedState: when the worktree is the repository
// itself (agentos sandbox run), the cache under .agentos/ is writable while
// the rest of .agentos stays read-only.
func TestPolicyCacheInsideProtectedState(t *testing.T) {
	b := newBox(t)
	must(t, os.MkdirAll(filepath.Join(b.wt, agentos.StateDir), 0o755))
	cfg := policyConfig(t, "sandbox: {profiles: {go: {env: {GOCACHE: \"{cache}/go-build\"}}}}\n")
	p := sandbox.NewPolicy(cfg, b.wt, []string{"HOME=" + b.home})
	spec := b.spec(t, "/bin/sh", "-c", `echo x > "$CACHE/ok" && echo wrote-cache; echo y > "$WT/.agentos/evil" && echo wrote-state`)
	spec.Env = append(spec.Env, "CACHE="+p.CacheDir)
	must(t, p.Apply(&spec))
	out, _, err := b.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "wrote-cache") {
		t.Errorf("the cache is not writable: %s", out)
	}
	if strings.Contains(out, "wrote-state") {
		t.Error("the protected state directory became writable")
	}
	if _, err := os.Stat(filepath.Join(b.wt, agentos.StateDir, "evil")); err == nil {
		t.Error(".agentos/evil exists on the host")
	}
}

func TestPolicyVisibleScriptInterpreter(t *testing.T) {
	home := t.TempDir()
	bin, venv := filepath.Join(home, ".local", "bin"), filepath.Join(home, "venvs", "tool", "bin")
	must(t, os.MkdirAll(bin, 0o755))
	must(t, os.MkdirAll(venv, 0o755))
	must(t, os.WriteFile(filepath.Join(venv, "python"), []byte("\x7fELF"), 0o755))
	must(t, os.WriteFile(filepath.Join(bin, "tool"), []byte("#!"+filepath.Join(venv, "python")+"\nimport tool\n"), 0o755))
	p := sandbox.NewPolicy(policyConfig(t, "sandbox: {read_only: [\"~/.local\"]}\n"), t.TempDir(), []string{"HOME=" + home})
	err := p.Visible(filepath.Join(bin, "tool"), "")
	if err == nil || !strings.Contains(agentos.ErrorMessage(err), "~/venvs") {
		t.Fatalf("a script whose interpreter is hidden: %v, want a refusal naming ~/venvs", err)
	}
	p = sandbox.NewPolicy(policyConfig(t, "sandbox: {read_only: [\"~/.local\", \"~/venvs\"]}\n"), t.TempDir(), []string{"HOME=" + home})
	if err := p.Visible(filepath.Join(bin, "tool"), ""); err != nil {
		t.Fatal(err)
	}
}

// A toolchain exposed from another home than HOME (root's ~/.cargo while
// HOME is elsewhere) keeps that home's credentials hidden too.
func TestPolicyHidesCredentialsOfOtherHomes(t *testing.T) {
	cfg := policyConfig(t, "sandbox: {profiles: {rust: {read_only: [/srv/other/.cargo, /srv/other/.rustup]}}}\n")
	p := sandbox.NewPolicy(cfg, "/src/repo", []string{"HOME=/home/u"})
	for _, want := range []string{"/home/u/.ssh", "/srv/other/.cargo/credentials.toml", "/srv/other/.ssh", "/srv/other/.npmrc"} {
		if !slices.Contains(p.Hidden, want) {
			t.Errorf("Hidden lacks %s", want)
		}
	}
	err := p.Visible("/opt/u/.pyenv/shims/python3", "")
	if err == nil || !strings.Contains(agentos.ErrorMessage(err), "/opt/u/.pyenv ") {
		t.Errorf("suggestion for a tool outside HOME: %v, want /opt/u/.pyenv", err)
	}
}

// The commit signing key is hidden wherever the policy keeps it.
func TestPolicyHidesSigningKey(t *testing.T) {
	cfg := policyConfig(t, "commit: {signing_key: /opt/keys/agentos_signing}\nsandbox: {read_only: [/opt/keys]}\n")
	p := sandbox.NewPolicy(cfg, "/src/repo", []string{"HOME=/home/u"})
	if !slices.Contains(p.Hidden, "/opt/keys/agentos_signing") {
		t.Errorf("Hidden lacks the signing key: %q", p.Hidden)
	}
}
