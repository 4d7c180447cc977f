package ecosystem

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// detected is what a test compares of an Ecosystem (Notes are prose).
type detected struct {
	Name     string
	Commands []string
	ReadOnly []string
	Path     []string
	Env      map[string]string
	Tools    []string
	Verify   [][]string
}

// TestDetect runs Detect on repositories and machines built in a temporary
// directory: a fake HOME ($HOME), another directory outside it ($TMP, the
// root of /opt-like installs), tools as executable files there (a "->"
// makes a link), and system tools (/usr/bin/...) answered by LookPath
// without touching the real machine.
func TestDetect(t *testing.T) {
	type tc struct {
		name  string
		repo  map[string]string // file → content
		tools []string          // "PATH" or "PATH -> TARGET", $HOME and $TMP expanded
		sys   map[string]string // tool → /usr/... path
		env   []string          // extra KEY=VALUE, expanded
		path  []string          // PATH entries searched before sys, expanded
		want  []detected        // $HOME and $TMP expanded
	}
	goEnv := func(extra ...string) map[string]string {
		m := map[string]string{"GOCACHE": "{cache}/go-build", "GOMODCACHE": "{home}/go/pkg/mod", "GOTOOLCHAIN": "local"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	npmEnv := func(extra ...string) map[string]string {
		m := map[string]string{"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_offline": "true", "npm_config_logs_dir": "{cache}/npm-logs"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	pnpmEnv := func(extra ...string) map[string]string {
		m := npmEnv(extra...)
		delete(m, "npm_config_logs_dir")
		return m
	}
	yarnEnv := func(extra ...string) map[string]string {
		m := pnpmEnv(extra...)
		delete(m, "npm_config_offline") // yarn has its own switch
		return m
	}
	pyEnv := func(extra ...string) map[string]string {
		m := map[string]string{"PYTHONPYCACHEPREFIX": "{cache}/pycache", "PYTEST_ADDOPTS": `-o "cache_dir={cache}/pytest"`, "PIP_NO_INDEX": "1"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	goSys := map[string]string{"go": "/usr/local/go/bin/go"}
	cases := []tc{{
		name: "nothing",
		repo: map[string]string{"README.md": "hi\n"},
	}, {
		name: "go, system toolchain",
		repo: map[string]string{"go.mod": "module x\n"},
		sys:  goSys,
		want: []detected{{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/go/pkg/mod"}, Env: goEnv(), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}}},
	}, {
		name: "go.work only",
		repo: map[string]string{"go.work": "go 1.22\n"},
		sys:  goSys,
		want: []detected{{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/go/pkg/mod"}, Env: goEnv(), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}}},
	}, {
		name: "go under home with GOROOT, GOMODCACHE elsewhere",
		repo: map[string]string{"go.mod": "module x\n"},
		// GOROOT inside the install root found from PATH: one entry.
		tools: []string{"$HOME/sdk/go1.22.0/bin/go"},
		path:  []string{"$HOME/sdk/go1.22.0/bin"},
		env:   []string{"GOROOT=$HOME/sdk/go1.22.0", "GOMODCACHE=$TMP/gomod"},
		want: []detected{{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/sdk", "$TMP/gomod"},
			Env: goEnv("GOMODCACHE", "$TMP/gomod"), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}}},
	}, {
		name:  "go linked into ~/bin from an install elsewhere, first GOPATH entry",
		repo:  map[string]string{"go.mod": "module x\n"},
		tools: []string{"$TMP/opt/go/bin/go", "$HOME/bin/go -> $TMP/opt/go/bin/go"},
		path:  []string{"$HOME/bin"},
		env:   []string{"GOPATH=$TMP/gp1:$TMP/gp2"},
		want: []detected{{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/bin", "$TMP/opt/go", "$TMP/gp1/pkg/mod"},
			Env: goEnv("GOMODCACHE", "$TMP/gp1/pkg/mod"), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}}},
	}, {
		name:  "npm with a lockfile and node from nvm",
		repo:  map[string]string{"package.json": `{"scripts": {"test": "node t.js"}}`, "package-lock.json": "{}"},
		tools: []string{"$HOME/.nvm/versions/node/v20.1.0/bin/node", "$HOME/.nvm/versions/node/v20.1.0/bin/npm"},
		path:  []string{"$HOME/.nvm/versions/node/v20.1.0/bin"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx"}, ReadOnly: []string{"~/.nvm", "~/.npm"},
			Env: npmEnv("npm_config_cache", "{home}/.npm"), Tools: []string{"node", "npm"}, Verify: [][]string{{"npm", "ci"}, {"npm", "test"}}}},
	}, {
		name: "npm without a lockfile, npm_config_cache set",
		repo: map[string]string{"package.json": `{"scripts": {"test": "jest"}}`},
		sys:  map[string]string{"node": "/usr/bin/node", "npm": "/usr/bin/npm"},
		env:  []string{"npm_config_cache=$TMP/npmcache"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx"}, ReadOnly: []string{"$TMP/npmcache"},
			Env: npmEnv("npm_config_cache", "$TMP/npmcache"), Tools: []string{"node", "npm"}, Verify: [][]string{{"npm", "install", "--no-package-lock"}, {"npm", "test"}}}},
	}, {
		name: "npm without a test script: no verify (installing alone verifies nothing)",
		repo: map[string]string{"package.json": `{"name": "x"}`, "package-lock.json": "{}"},
		sys:  map[string]string{"node": "/usr/bin/node", "npm": "/usr/bin/npm"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx"}, ReadOnly: []string{"~/.npm"},
			Env: npmEnv("npm_config_cache", "{home}/.npm"), Tools: []string{"node", "npm"}}},
	}, {
		name: "pnpm by its lockfile",
		repo: map[string]string{"package.json": `{"scripts": {"test": "vitest"}}`, "pnpm-lock.yaml": ""},
		sys:  map[string]string{"node": "/usr/bin/node", "pnpm": "/usr/bin/pnpm"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx", "pnpm"}, ReadOnly: []string{"~/.local/share/pnpm/store"},
			Env: pnpmEnv("npm_config_store_dir", "{home}/.local/share/pnpm/store"), Tools: []string{"node", "pnpm"},
			Verify: [][]string{{"pnpm", "install", "--frozen-lockfile", "--offline"}, {"pnpm", "test"}}}},
	}, {
		name:  "pnpm by packageManager, from ~/.local/share/pnpm, store set",
		repo:  map[string]string{"package.json": `{"packageManager": "pnpm@9.1.0", "scripts": {"test": "vitest"}}`},
		tools: []string{"$HOME/.local/share/pnpm/pnpm"},
		path:  []string{"$HOME/.local/share/pnpm"},
		sys:   map[string]string{"node": "/usr/bin/node"},
		env:   []string{"npm_config_store_dir=$HOME/pnpm-store"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx", "pnpm"},
			ReadOnly: []string{"~/.local/share/pnpm", "~/pnpm-store", "~/.cache/node/corepack"},
			Env:      pnpmEnv("npm_config_store_dir", "{home}/pnpm-store", "COREPACK_HOME", "{home}/.cache/node/corepack", "COREPACK_ENABLE_DOWNLOAD_PROMPT", "0"),
			Tools:    []string{"node", "pnpm"}, Verify: [][]string{{"pnpm", "install", "--frozen-lockfile", "--offline"}, {"pnpm", "test"}}}},
	}, {
		name: "yarn classic",
		repo: map[string]string{"package.json": `{"scripts": {"test": "mocha"}}`, "yarn.lock": ""},
		sys:  map[string]string{"node": "/usr/bin/node", "yarn": "/usr/bin/yarn"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx", "yarn"}, ReadOnly: []string{"~/.cache/yarn"},
			Env: yarnEnv("YARN_CACHE_FOLDER", "{home}/.cache/yarn"), Tools: []string{"node", "yarn"},
			Verify: [][]string{{"yarn", "install", "--frozen-lockfile", "--offline"}, {"yarn", "test"}}}},
	}, {
		name: "yarn berry: --immutable, network off by setting, corepack's copy",
		repo: map[string]string{"package.json": `{"packageManager": "yarn@4.1.0", "scripts": {"test": "jest"}}`, "yarn.lock": "", ".yarnrc.yml": ""},
		sys:  map[string]string{"node": "/usr/bin/node", "yarn": "/usr/bin/yarn"},
		want: []detected{{Name: "node", Commands: []string{"node", "npm", "npx", "yarn"}, ReadOnly: []string{"~/.yarn/berry", "~/.cache/node/corepack"},
			Env:   yarnEnv("YARN_ENABLE_NETWORK", "0", "YARN_ENABLE_TELEMETRY", "0", "COREPACK_HOME", "{home}/.cache/node/corepack", "COREPACK_ENABLE_DOWNLOAD_PROMPT", "0"),
			Tools: []string{"node", "yarn"}, Verify: [][]string{{"yarn", "install", "--immutable"}, {"yarn", "test"}}}},
	}, {
		name:  "python venv on a pyenv interpreter under home",
		repo:  map[string]string{"pyproject.toml": "[project]\nname='x'\n", ".venv/pyvenv.cfg": "home = $HOME/.pyenv/versions/3.12.1/bin\nversion = 3.12.1\n"},
		tools: []string{"$HOME/.pyenv/shims/python3", "$HOME/.pyenv/versions/3.12.1/bin/python3"},
		path:  []string{"$HOME/.pyenv/shims"},
		want: []detected{{Name: "python", Commands: []string{"python", "python3"}, ReadOnly: []string{".venv", "~/.pyenv"}, Path: []string{".venv/bin"},
			Env: pyEnv(), Tools: []string{"python3"}, Verify: [][]string{{"python", "-m", "unittest"}}}},
	}, {
		name: "python venv named venv, pytest in requirements, system interpreter",
		repo: map[string]string{"requirements-dev.txt": "pytest==8.0\n", "venv/pyvenv.cfg": "home = /usr/bin\n"},
		sys:  map[string]string{"python3": "/usr/bin/python3"},
		want: []detected{{Name: "python", Commands: []string{"python", "python3"}, ReadOnly: []string{"venv"}, Path: []string{"venv/bin"},
			Env: pyEnv(), Tools: []string{"python3"}, Verify: [][]string{{"python", "-m", "pytest"}}}},
	}, {
		name: "python without venv, pytest via conftest",
		repo: map[string]string{"setup.py": "", "tests/conftest.py": ""},
		sys:  map[string]string{"python3": "/usr/bin/python3"},
		want: []detected{{Name: "python", Commands: []string{"python3"}, Env: pyEnv(), Tools: []string{"python3"}, Verify: [][]string{{"python3", "-m", "pytest"}}}},
	}, {
		// Another user's pyenv (HOME is not where the interpreter is):
		// its shim runs ../libexec/pyenv and a version beside it, so the
		// whole manager is visible, not just shims/.
		name:  "python from a pyenv outside home",
		repo:  map[string]string{"setup.cfg": ""},
		tools: []string{"$TMP/root/.pyenv/shims/python3"},
		path:  []string{"$TMP/root/.pyenv/shims"},
		want: []detected{{Name: "python", Commands: []string{"python3"}, ReadOnly: []string{"$TMP/root/.pyenv"}, Env: pyEnv(), Tools: []string{"python3"},
			Verify: [][]string{{"python3", "-m", "unittest"}}}},
	}, {
		name:  "poetry from pipx: the link and its venv, not all of ~/.local",
		repo:  map[string]string{"pyproject.toml": "[tool.poetry]\nname='x'\n[tool.poetry.group.dev.dependencies]\npytest = '*'\n", "poetry.lock": ""},
		tools: []string{"$HOME/.local/share/pipx/venvs/poetry/bin/poetry", "$HOME/.local/bin/poetry -> $HOME/.local/share/pipx/venvs/poetry/bin/poetry"},
		path:  []string{"$HOME/.local/bin"},
		sys:   map[string]string{"python3": "/usr/bin/python3"},
		want: []detected{{Name: "python", Commands: []string{"python3", "poetry"}, ReadOnly: []string{"~/.cache/pypoetry", "~/.local/bin", "~/.local/share/pipx"},
			Env: pyEnv(), Tools: []string{"python3"}, Verify: [][]string{{"poetry", "run", "pytest"}}}},
	}, {
		name:  "uv from ~/.cargo/bin",
		repo:  map[string]string{"pyproject.toml": "[project]\nname='x'\n", "uv.lock": ""},
		tools: []string{"$HOME/.cargo/bin/uv"},
		path:  []string{"$HOME/.cargo/bin"},
		sys:   map[string]string{"python3": "/usr/bin/python3"},
		want: []detected{{Name: "python", Commands: []string{"python3", "uv"}, ReadOnly: []string{"~/.cargo"},
			Env: pyEnv("UV_OFFLINE", "1", "UV_CACHE_DIR", "{cache}/uv"), Tools: []string{"python3"}, Verify: [][]string{{"python3", "-m", "unittest"}}}},
	}, {
		name: "tox",
		repo: map[string]string{"tox.ini": "[testenv]\ncommands = pytest\n"},
		sys:  map[string]string{"python3": "/usr/bin/python3", "tox": "/usr/bin/tox"},
		want: []detected{{Name: "python", Commands: []string{"python3", "tox"}, Env: pyEnv("TOX_WORK_DIR", "{cache}/tox"), Tools: []string{"python3"},
			Verify: [][]string{{"python3", "-m", "pytest"}}}},
	}, {
		name:  "rust through rustup under home",
		repo:  map[string]string{"Cargo.toml": "[package]\nname='x'\n"},
		tools: []string{"$HOME/.cargo/bin/rustup", "$HOME/.cargo/bin/cargo -> rustup", "$HOME/.cargo/bin/rustc -> rustup", "$HOME/.rustup/settings.toml"},
		path:  []string{"$HOME/.cargo/bin"},
		want: []detected{{Name: "rust", Commands: []string{"cargo", "rustc", "rustfmt"}, ReadOnly: []string{"~/.cargo", "~/.rustup"},
			Env:   map[string]string{"CARGO_TARGET_DIR": "{cache}/cargo-target", "CARGO_NET_OFFLINE": "true", "CARGO_HOME": "{home}/.cargo", "RUSTUP_HOME": "{home}/.rustup"},
			Tools: []string{"cargo", "rustc"}, Verify: [][]string{{"cargo", "test"}}}},
	}, {
		name:  "rust through a rustup outside home",
		repo:  map[string]string{"Cargo.toml": "[package]\nname='x'\n"},
		tools: []string{"$TMP/root/.cargo/bin/rustup", "$TMP/root/.cargo/bin/cargo -> rustup", "$TMP/root/.cargo/bin/rustc -> rustup"},
		path:  []string{"$TMP/root/.cargo/bin"},
		env:   []string{"CARGO_HOME=$TMP/root/.cargo"},
		want: []detected{{Name: "rust", Commands: []string{"cargo", "rustc", "rustfmt"}, ReadOnly: []string{"$TMP/root/.cargo"},
			Env:   map[string]string{"CARGO_TARGET_DIR": "{cache}/cargo-target", "CARGO_NET_OFFLINE": "true", "CARGO_HOME": "$TMP/root/.cargo"},
			Tools: []string{"cargo", "rustc"}, Verify: [][]string{{"cargo", "test"}}}},
	}, {
		name: "make with a test target",
		repo: map[string]string{"Makefile": "all:\n\ttrue\ntest: all\n\ttrue\n"},
		want: []detected{{Name: "make", Commands: []string{"make"}, Verify: [][]string{{"make", "test"}}}},
	}, {
		name: "make without a test target",
		repo: map[string]string{"GNUmakefile": "all:\n\ttrue\n"},
		want: []detected{{Name: "make", Commands: []string{"make"}}},
	}, {
		name: "go and make: go's test command, not make's",
		repo: map[string]string{"go.mod": "module x\n", "Makefile": "test:\n\tgo test ./...\n"},
		sys:  goSys,
		want: []detected{
			{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/go/pkg/mod"}, Env: goEnv(), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}},
			{Name: "make", Commands: []string{"make"}},
		},
	}, {
		name: "go, node and python in one repository, in a stable order",
		repo: map[string]string{"go.mod": "module x\n", "package.json": "{}", "requirements.txt": ""},
		sys:  map[string]string{"go": "/usr/local/go/bin/go", "node": "/usr/bin/node", "npm": "/usr/bin/npm", "python3": "/usr/bin/python3"},
		want: []detected{
			{Name: "go", Commands: []string{"go", "gofmt"}, ReadOnly: []string{"~/go/pkg/mod"}, Env: goEnv(), Tools: []string{"go"}, Verify: [][]string{{"go", "test", "./..."}}},
			{Name: "node", Commands: []string{"node", "npm", "npx"}, ReadOnly: []string{"~/.npm"}, Env: npmEnv("npm_config_cache", "{home}/.npm"), Tools: []string{"node", "npm"}},
			{Name: "python", Commands: []string{"python3"}, Env: pyEnv(), Tools: []string{"python3"}, Verify: [][]string{{"python3", "-m", "unittest"}}},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			home := filepath.Join(tmp, "home")
			repo := filepath.Join(tmp, "repo")
			x := strings.NewReplacer("$HOME", home, "$TMP", tmp).Replace
			for name, body := range c.repo {
				write(t, filepath.Join(repo, name), x(body), 0o644)
			}
			os.MkdirAll(repo, 0o755)
			for _, spec := range c.tools {
				p, target, link := strings.Cut(x(spec), " -> ")
				if link {
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.Symlink(target, p); err != nil {
						t.Fatal(err)
					}
					continue
				}
				write(t, p, "#!/bin/sh\n", 0o755)
			}
			var path []string
			for _, d := range c.path {
				path = append(path, x(d))
			}
			env := []string{"HOME=" + home, "PATH=" + strings.Join(path, ":")}
			for _, e := range c.env {
				env = append(env, x(e))
			}
			h := Host{Env: env}
			fromPath := h // its look scans env's PATH: the fake tools
			h.LookPath = func(name string) (string, error) {
				if p := fromPath.look(name); p != "" {
					return p, nil
				}
				if p, ok := c.sys[name]; ok {
					return p, nil
				}
				return "", os.ErrNotExist
			}
			var got []detected
			for _, e := range Detect(repo, h) {
				if e.Title == "" {
					t.Errorf("%s: no title", e.Name)
				}
				if len(e.Profile.ReadOnly)+len(e.Profile.Env) > 0 && len(e.Notes) == 0 {
					t.Errorf("%s: a profile without notes for the policy's comments", e.Name)
				}
				got = append(got, detected{Name: e.Name, Commands: e.Commands, ReadOnly: e.Profile.ReadOnly, Path: e.Profile.Path,
					Env: nilIfEmpty(e.Profile.Env), Tools: e.Profile.Tools, Verify: e.Verify})
			}
			var want []detected
			for _, w := range c.want {
				for i := range w.ReadOnly {
					w.ReadOnly[i] = x(w.ReadOnly[i])
				}
				for k, v := range w.Env {
					w.Env[k] = x(v)
				}
				want = append(want, w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Detect:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestDetectHostLookup checks the default lookup (no LookPath): the first
// executable regular file on the environment's PATH, relative entries
// ignored (a command must not depend on the directory init ran in).
func TestDetectHostLookup(t *testing.T) {
	tmp := t.TempDir()
	write(t, filepath.Join(tmp, "a/go"), "not executable", 0o644)
	os.MkdirAll(filepath.Join(tmp, "b/go"), 0o755) // a directory
	write(t, filepath.Join(tmp, "c/go"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(tmp, "rel/go"), "#!/bin/sh\n", 0o755)
	t.Chdir(tmp)
	h := Host{Env: []string{"PATH=rel:" + strings.Join([]string{tmp + "/a", tmp + "/b", tmp + "/c"}, ":")}}
	if got, want := h.look("go"), filepath.Join(tmp, "c/go"); got != want {
		t.Errorf("look(go) = %q, want %q", got, want)
	}
	if got := h.look("node"); got != "" {
		t.Errorf("look(node) = %q, want nothing", got)
	}
	// The last of repeated variables wins, as for exec.
	if got := (Host{Env: []string{"HOME=/a", "HOME=/b"}}).home(); got != "/b" {
		t.Errorf("home() = %q, want /b", got)
	}
}

func TestInstallRoots(t *testing.T) {
	for _, c := range []struct{ path, home, want string }{
		{"/usr/bin/node", "/home/u", ""},
		{"/usr/local/go/bin/go", "/home/u", ""},
		{"/bin/sh", "/home/u", ""},
		{"/home/u/.pyenv/shims/python3", "/home/u", "~/.pyenv"},
		{"/home/u/.nvm/versions/node/v20/bin/node", "/home/u", "~/.nvm"},
		{"/home/u/go/bin/gopls", "/home/u", "~/go"},
		{"/home/u/.local/bin/poetry", "/home/u", "~/.local/bin"},
		{"/home/u/.local/share/pnpm/pnpm", "/home/u", "~/.local/share/pnpm"},
		{"/home/u/.config/tool/bin/x", "/home/u", "~/.config/tool"},
		{"/root/.pyenv/shims/python3", "/home/u", "/root/.pyenv"},
		{"/root/.local/bin/x", "/home/u", "/root/.local/bin"},
		{"/opt/go/bin/go", "/home/u", "/opt/go"},
		{"/opt/tools/x", "", "/opt/tools"},
		{"/home/u2/.cargo/bin/cargo", "/home/u", "/home/u2/.cargo"},
		{"/home/user/.cargo/bin/cargo", "/home/u", "/home/user/.cargo"}, // a prefix of home is not home
	} {
		var want []string
		if c.want != "" {
			want = []string{c.want}
		}
		if got := installRoots(c.path, c.home); !reflect.DeepEqual(got, want) {
			t.Errorf("installRoots(%q, %q) = %q, want %q", c.path, c.home, got, want)
		}
	}
}

func TestAppendNew(t *testing.T) {
	got := appendNew(nil, "~/.pyenv/versions/3.12", "", "~/.npm", "~/.pyenv", "~/.pyenv/shims", "~/.npmrc", "~/.npm")
	want := []string{"~/.npm", "~/.pyenv", "~/.npmrc"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("appendNew = %q, want %q", got, want)
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func write(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}
