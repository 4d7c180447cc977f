package ecosystem

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/agentos/agentos/config"
)

func detectGo(root string, h Host) (Ecosystem, bool) {
	if !exists(root, "go.mod") && !exists(root, "go.work") {
		return Ecosystem{}, false
	}
	home := h.home()
	modcache := h.getenv("GOMODCACHE")
	if modcache == "" {
		gopath, _, _ := strings.Cut(h.getenv("GOPATH"), string(filepath.ListSeparator))
		if gopath == "" && home != "" {
			gopath = filepath.Join(home, "go")
		}
		if gopath != "" {
			modcache = filepath.Join(gopath, "pkg", "mod")
		}
	}
	e := Ecosystem{
		Name: "go", Title: "Go",
		Commands: []string{"go", "gofmt"},
		EnvAllow: []string{"GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT"},
		Verify:   [][]string{{"go", "test", "./..."}},
		Profile: config.Profile{
			Env: map[string]string{
				"GOCACHE":     "{cache}/go-build",
				"GOTOOLCHAIN": "local",
			},
			Tools: []string{"go"},
		},
	}
	if goroot := h.getenv("GOROOT"); goroot != "" && len(installRoots(filepath.Join(goroot, "bin", "go"), home)) > 0 {
		e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(goroot, home))
	}
	e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, toolRoots(h, "go")...)
	if modcache != "" {
		e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(modcache, home))
		e.Profile.Env["GOMODCACHE"] = brace(modcache, home)
	}
	e.Notes = []string{
		"The module cache is read-only: a module not cached yet fails the build offline.",
		"Fetch it on the host (`go mod download`), or set GOMODCACHE: \"{cache}/gomod\" and add proxy.golang.org:443 to allow_tcp.",
		"GOCACHE in {cache}: the second governed build is as warm as yours.",
	}
	return e, true
}

// packageJSON is what detection reads of package.json.
type packageJSON struct {
	Scripts        map[string]string `json:"scripts"`
	PackageManager string            `json:"packageManager"`
}

func detectNode(root string, h Host) (Ecosystem, bool) {
	if !exists(root, "package.json") {
		return Ecosystem{}, false
	}
	var pj packageJSON
	json.Unmarshal([]byte(read(root, "package.json")), &pj)
	home := h.home()
	pm := "npm"
	switch {
	case exists(root, "pnpm-lock.yaml") || strings.HasPrefix(pj.PackageManager, "pnpm"):
		pm = "pnpm"
	case exists(root, "yarn.lock") || strings.HasPrefix(pj.PackageManager, "yarn"):
		pm = "yarn"
	}
	// Yarn 1 has no .yarnrc.yml and is pinned as yarn@1.x, if at all.
	berry := pm == "yarn" && (exists(root, ".yarnrc.yml") ||
		(strings.HasPrefix(pj.PackageManager, "yarn@") && !strings.HasPrefix(pj.PackageManager, "yarn@1.")))
	e := Ecosystem{
		Name: "node", Title: "Node.js (" + pm + ")",
		Commands: []string{"node", "npm", "npx"},
		Profile:  config.Profile{Env: map[string]string{}, Tools: []string{"node", pm}},
	}
	if pm != "npm" {
		e.Commands = append(e.Commands, pm)
	}
	e.Profile.ReadOnly = toolRoots(h, "node", pm)
	// Offline installs from the caches the developer filled.
	switch pm {
	case "npm":
		cache := h.getenv("npm_config_cache")
		if cache == "" && home != "" {
			cache = filepath.Join(home, ".npm")
		}
		if cache != "" {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(cache, home))
			e.Profile.Env["npm_config_cache"] = brace(cache, home)
		}
		e.Profile.Env["npm_config_offline"] = "true"
		// npm writes its logs into the cache by default, read-only here.
		e.Profile.Env["npm_config_logs_dir"] = "{cache}/npm-logs"
		install := []string{"npm", "ci"}
		if !exists(root, "package-lock.json") && !exists(root, "npm-shrinkwrap.json") {
			install = []string{"npm", "install", "--no-package-lock"}
		}
		e.Verify = append(e.Verify, install)
	case "pnpm":
		store := h.getenv("npm_config_store_dir")
		if store == "" && home != "" {
			store = filepath.Join(home, ".local", "share", "pnpm", "store")
		}
		if store != "" {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(store, home))
			e.Profile.Env["npm_config_store_dir"] = brace(store, home)
		}
		e.Profile.Env["npm_config_offline"] = "true"
		e.Verify = append(e.Verify, []string{"pnpm", "install", "--frozen-lockfile", "--offline"})
	case "yarn":
		if berry {
			// Yarn 2+: its global cache under ~/.yarn/berry (or the
			// repository's .yarn/cache); no --offline flag, the network
			// is off by setting, and --immutable replaces --frozen-lockfile.
			if home != "" {
				e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, "~/.yarn/berry")
			}
			e.Profile.Env["YARN_ENABLE_NETWORK"] = "0"
			e.Profile.Env["YARN_ENABLE_TELEMETRY"] = "0"
			e.Verify = append(e.Verify, []string{"yarn", "install", "--immutable"})
			break
		}
		cache := h.getenv("YARN_CACHE_FOLDER")
		if cache == "" && home != "" {
			cache = filepath.Join(home, ".cache", "yarn")
		}
		if cache != "" {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(cache, home))
			e.Profile.Env["YARN_CACHE_FOLDER"] = brace(cache, home)
		}
		e.Verify = append(e.Verify, []string{"yarn", "install", "--frozen-lockfile", "--offline"})
	}
	if pj.PackageManager != "" && home != "" {
		// corepack runs the version packageManager pins, from the copy it
		// downloaded on the host: without it, the sandbox's own empty
		// home would make corepack try the network.
		dir := h.getenv("COREPACK_HOME")
		if dir == "" {
			dir = filepath.Join(home, ".cache", "node", "corepack")
		}
		e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(dir, home))
		e.Profile.Env["COREPACK_HOME"] = brace(dir, home)
		e.Profile.Env["COREPACK_ENABLE_DOWNLOAD_PROMPT"] = "0"
	}
	for k, v := range map[string]string{"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"} {
		e.Profile.Env[k] = v
	}
	if pj.Scripts["test"] != "" {
		e.Verify = append(e.Verify, []string{pm, "test"})
	} else {
		e.Verify = nil // installing alone verifies nothing
	}
	e.Notes = []string{
		"Dependencies install offline from your " + pm + " cache (read-only); node_modules must be in .gitignore.",
		"A package not cached yet: install once on the host, or add registry.npmjs.org:443 to allow_tcp.",
	}
	return e, true
}

var pytestRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)\bpytest\b`) })

func detectPython(root string, h Host) (Ecosystem, bool) {
	// A project's virtualenv marks it too (scripts with requirements-dev.txt only).
	markers := []string{"pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "Pipfile", "tox.ini", ".venv/pyvenv.cfg", "venv/pyvenv.cfg"}
	found := false
	for _, m := range markers {
		found = found || exists(root, m)
	}
	if !found {
		return Ecosystem{}, false
	}
	home := h.home()
	pyproject := read(root, "pyproject.toml")
	tool := "pip"
	switch {
	case exists(root, "uv.lock"):
		tool = "uv"
	case exists(root, "poetry.lock") || strings.Contains(pyproject, "[tool.poetry]"):
		tool = "poetry"
	case exists(root, "tox.ini"):
		tool = "tox"
	}
	e := Ecosystem{
		Name: "python", Title: "Python (" + tool + ")",
		EnvAllow: []string{"VIRTUAL_ENV"},
		Profile: config.Profile{
			Env: map[string]string{
				// Bytecode and pytest's state outside the worktree: never
				// an undeclared change, and warm across tasks.
				"PYTHONPYCACHEPREFIX": "{cache}/pycache",
				"PYTEST_ADDOPTS":      `-o "cache_dir={cache}/pytest"`,
				"PIP_NO_INDEX":        "1",
			},
		},
	}
	python := "python3"
	venv := ""
	for _, v := range []string{".venv", "venv"} {
		if exists(root, filepath.Join(v, "pyvenv.cfg")) {
			venv = v
			break
		}
	}
	if venv != "" {
		// The project's virtualenv (git-ignored, so not in a task's
		// worktree) is visible at its place in the repository, first on
		// PATH; its base interpreter must be visible too.
		python = "python"
		e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, venv)
		e.Profile.Path = []string{venv + "/bin"}
		if base := pyvenvHome(read(root, filepath.Join(venv, "pyvenv.cfg"))); base != "" {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, installRoots(filepath.Join(base, "python3"), home)...)
		}
	}
	e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, toolRoots(h, "python3")...)
	e.Commands = []string{python}
	if python != "python3" {
		e.Commands = append(e.Commands, "python3")
	}
	e.Profile.Tools = []string{"python3"}
	switch tool {
	case "uv":
		e.Profile.Env["UV_OFFLINE"] = "1"
		e.Profile.Env["UV_CACHE_DIR"] = "{cache}/uv"
	case "poetry":
		if cache := filepath.Join(home, ".cache", "pypoetry"); home != "" {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(cache, home))
		}
	case "tox":
		e.Profile.Env["TOX_WORK_DIR"] = "{cache}/tox"
	}
	if tool != "pip" {
		e.Commands = append(e.Commands, tool)
		e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, toolRoots(h, tool)...)
	}
	usesPytest := exists(root, "pytest.ini") || exists(root, "conftest.py") || exists(root, "tests/conftest.py")
	for _, f := range []string{"pyproject.toml", "setup.cfg", "tox.ini", "requirements.txt", "requirements-dev.txt", "requirements_dev.txt", "requirements-test.txt"} {
		usesPytest = usesPytest || pytestRe().MatchString(read(root, f))
	}
	switch {
	case usesPytest && tool == "poetry" && venv == "":
		e.Verify = [][]string{{"poetry", "run", "pytest"}}
	case usesPytest:
		e.Verify = [][]string{{python, "-m", "pytest"}}
	default:
		e.Verify = [][]string{{python, "-m", "unittest"}}
	}
	e.Notes = []string{
		"Offline: the interpreter and the project's virtualenv are read-only; install packages on the host (in the virtualenv).",
		"Bytecode and pytest's cache go to {cache}, never into the worktree.",
	}
	return e, true
}

// pyvenvHome reads the base interpreter's directory from a pyvenv.cfg.
func pyvenvHome(cfg string) string {
	for _, line := range strings.Split(cfg, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "home" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func detectRust(root string, h Host) (Ecosystem, bool) {
	if !exists(root, "Cargo.toml") {
		return Ecosystem{}, false
	}
	home := h.home()
	e := Ecosystem{
		Name: "rust", Title: "Rust (cargo)",
		Commands: []string{"cargo", "rustc", "rustfmt"},
		Verify:   [][]string{{"cargo", "test"}},
		Profile: config.Profile{
			Env: map[string]string{
				// Builds share one target directory per repository and
				// policy, outside the worktree.
				"CARGO_TARGET_DIR":  "{cache}/cargo-target",
				"CARGO_NET_OFFLINE": "true",
			},
			Tools: []string{"cargo", "rustc"},
		},
	}
	for _, v := range []struct{ env, dflt string }{{"CARGO_HOME", ".cargo"}, {"RUSTUP_HOME", ".rustup"}} {
		dir := h.getenv(v.env)
		if dir == "" && home != "" {
			dir = filepath.Join(home, v.dflt)
		}
		if dir != "" && exists(dir, ".") {
			e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, tilde(dir, home))
			e.Profile.Env[v.env] = brace(dir, home)
		}
	}
	e.Profile.ReadOnly = appendNew(e.Profile.ReadOnly, toolRoots(h, "cargo", "rustc")...)
	e.Notes = []string{
		"The cargo registry is read-only and builds run --offline: fetch crates on the host (`cargo fetch`).",
	}
	return e, true
}

var makeTestRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^test\s*:`) })

func detectMake(root string, h Host) (Ecosystem, bool) {
	mk := ""
	for _, m := range []string{"GNUmakefile", "Makefile", "makefile"} {
		if mk = read(root, m); mk != "" {
			break
		}
	}
	if mk == "" {
		return Ecosystem{}, false
	}
	e := Ecosystem{Name: "make", Title: "Make", Commands: []string{"make"}}
	if makeTestRe().MatchString(mk) {
		e.Verify = [][]string{{"make", "test"}}
	}
	return e, true
}
