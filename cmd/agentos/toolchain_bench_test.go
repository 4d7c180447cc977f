package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The figures: for a Go module with a dependency, a Node package
// and a Python project, the project's test command run governed
// (`agentos sandbox run -- CMD` in the repository, the policy agentos init
// wrote) against the same command run bare, alternating in one run so both
// see the same machine:
//
//	warm: the second and later governed runs (the AgentOS build cache
//	      filled by the first) against bare runs with a warm cache;
//	cold: governed runs on a fresh AgentOS cache (removed before each)
//	      against bare runs on an empty cache (GOCACHE, the bytecode prefix).
//
// Reported as medians and their ratio; nothing is asserted on time.
//
//	go test ./cmd/agentos/ -run '^$' -bench Toolchain -benchtime 5x
//
// The Go cold case compiles the standard library twice per iteration
// (bare, governed): give it -benchtime 2x or 3x on a slow machine.
func BenchmarkToolchain(b *testing.B) {
	if _, err := exec.LookPath("agentos"); err != nil {
		b.Skip("agentos is not on PATH (testscript.Main puts it there)")
	}
	home := b.TempDir()
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"), 0o644)
	for _, p := range []struct {
		name  string
		setup func(b *testing.B, home, repo string)
		cmds  [][]string
		// bareEnv points the bare run's caches at dir, as the profile
		// points the governed run's at {cache}.
		bareEnv func(home, dir string) []string
		// cache names what a cold bare run empties in dir.
		cache string
	}{
		{"go", setupGoBench, [][]string{{"go", "test", "-count=1", "./..."}}, func(home, dir string) []string {
			return []string{"GOCACHE=" + filepath.Join(dir, "go-build"), "GOMODCACHE=" + filepath.Join(home, "go/pkg/mod"), "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS="}
		}, "go-build"},
		{"node", setupNodeBench, [][]string{{"npm", "ci"}, {"npm", "test"}}, func(home, dir string) []string {
			return []string{"npm_config_cache=" + filepath.Join(home, ".npm"), "npm_config_offline=true", "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false"}
		}, ""},
		{"python", setupPythonBench, [][]string{{"python", "-m", "unittest", "-q"}}, func(home, dir string) []string {
			return []string{"PYTHONPYCACHEPREFIX=" + filepath.Join(dir, "pycache")}
		}, "pycache"},
	} {
		b.Run(p.name, func(b *testing.B) {
			repo := filepath.Join(b.TempDir(), "repo")
			os.MkdirAll(repo, 0o755)
			p.setup(b, home, repo)
			benchRun(b, repo, home, nil, "git", "init", "-q", "-b", "main")
			benchRun(b, repo, home, nil, "git", "add", ".")
			benchRun(b, repo, home, nil, "git", "commit", "-q", "-m", "project")
			benchRun(b, repo, home, nil, "agentos", "init")
			bareDir := b.TempDir()
			bareEnv := p.bareEnv(home, bareDir)
			venv := filepath.Join(repo, ".venv/bin")
			bare := func() {
				for _, c := range p.cmds {
					name := c[0]
					if p.name == "python" {
						// The virtualenv's python, as the profile puts
						// .venv/bin first on PATH.
						name = filepath.Join(venv, name)
					}
					benchRun(b, repo, home, bareEnv, name, c[1:]...)
				}
			}
			governed := func() {
				for _, c := range p.cmds {
					benchRun(b, repo, home, nil, "agentos", append([]string{"sandbox", "run", "--"}, c...)...)
				}
			}
			agentosCache := filepath.Join(repo, ".agentos", "cache")
			for _, mode := range []string{"warm", "cold"} {
				b.Run(mode, func(b *testing.B) {
					if mode == "warm" {
						bare() // the first runs fill the caches
						governed()
					}
					var bt, gt []time.Duration
					for b.Loop() {
						if mode == "cold" {
							if p.cache != "" {
								os.RemoveAll(filepath.Join(bareDir, p.cache))
							}
							os.RemoveAll(agentosCache)
						}
						t := time.Now()
						bare()
						bt = append(bt, time.Since(t))
						t = time.Now()
						governed()
						gt = append(gt, time.Since(t))
					}
					mb := benchMedian(bt)
					mg := benchMedian(gt)
					b.ReportMetric(float64(mb.Microseconds())/1000, "bare-median-ms")
					b.ReportMetric(float64(mg.Microseconds())/1000, "governed-median-ms")
					b.ReportMetric(float64(mg)/float64(mb), "ratio")
				})
			}
		})
	}
}

func benchMedian(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchRun runs a program in dir with a developer's plain environment
// (PATH, with agentos and the toolchains, HOME=home, TMPDIR, LANG) and env:
// none of this process's other variables, which would change what the
// bare run does (PYTHONDONTWRITEBYTECODE would make every bare Python run
// cold).
func benchRun(b *testing.B, dir, home string, env []string, name string, args ...string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir(), "LANG=C.UTF-8", "NO_COLOR=1"}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

func benchWrite(b *testing.B, dir string, files map[string]string) {
	b.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// setupGoBench: a module using spf13/pflag, fetched into HOME's module
// cache from the machine's own through a file:// proxy (no network).
func setupGoBench(b *testing.B, home, repo string) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		b.Skipf("go: %v", err)
	}
	benchWrite(b, repo, map[string]string{
		"go.mod":   "module example.com/greeter\n\ngo 1.22\n",
		"flags.go": "package greeter\n\nimport \"github.com/spf13/pflag\"\n\nfunc Flags() *pflag.FlagSet { return pflag.NewFlagSet(\"greeter\", pflag.ContinueOnError) }\n",
		"verbose.go": "package greeter\n\nfunc Verbose(args []string) bool {\n\tfs := Flags()\n\tv := fs.BoolP(\"verbose\", \"v\", false, \"\")\n" +
			"\tif fs.Parse(args) != nil {\n\t\treturn false\n\t}\n\treturn *v\n}\n",
		"verbose_test.go": "package greeter\n\nimport \"testing\"\n\nfunc TestVerbose(t *testing.T) {\n\tif !Verbose([]string{\"-v\"}) || Verbose(nil) {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n",
	})
	env := []string{"GOPATH=" + filepath.Join(home, "go"), "GOMODCACHE=", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOTOOLCHAIN=local",
		"GOPROXY=file://" + filepath.Join(strings.TrimSpace(string(out)), "cache", "download")}
	benchRun(b, repo, home, env, "go", "get", "github.com/spf13/pflag")
	benchRun(b, repo, home, env, "go", "mod", "download")
}

// setupNodeBench: a package depending on one from a loopback registry,
// installed once so the npm cache under HOME holds it; the registry is
// gone before anything is measured.
func setupNodeBench(b *testing.B, home, repo string) {
	if _, err := exec.LookPath("npm"); err != nil {
		b.Skipf("npm: %v", err)
	}
	pkg := b.TempDir()
	benchWrite(b, pkg, map[string]string{
		"package.json": `{"name": "padleft", "version": "1.2.0", "main": "index.js"}`,
		"index.js":     "module.exports = (s, n, c) => String(c || ' ').repeat(Math.max(0, n - String(s).length)) + s;\n",
	})
	tgz, err := npmTarball(pkg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: npmHandler("padleft", "1.2.0", url, tgz), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	benchWrite(b, repo, map[string]string{
		"package.json": `{"name": "greeter", "version": "1.0.0", "private": true, "scripts": {"test": "node test.js"}}`,
		".gitignore":   "node_modules/\n",
		"test.js":      "const assert = require('assert');\nassert.strictEqual(require('padleft')('x', 3, '*'), '**x');\n",
	})
	benchRun(b, repo, home, nil, "npm", "install", "--registry", url, "--no-audit", "--no-fund", "padleft@1.2.0")
	os.RemoveAll(filepath.Join(repo, "node_modules"))
}

// setupPythonBench: a project with a virtualenv holding a dependency
// installed from a local wheel.
func setupPythonBench(b *testing.B, home, repo string) {
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skipf("python3: %v", err)
	}
	benchWrite(b, repo, map[string]string{
		"pyproject.toml":      "[project]\nname = \"greet\"\nversion = \"0.1.0\"\n",
		".gitignore":          ".venv/\n",
		"greet/__init__.py":   "import titlecase_lite\n\n\ndef hello(name):\n    return titlecase_lite.title(\"hello \" + name)\n",
		"tests/__init__.py":   "",
		"tests/test_hello.py": "import unittest\n\nfrom greet import hello\n\n\nclass T(unittest.TestCase):\n    def test_hello(self):\n        self.assertEqual(hello(\"ada\"), \"Hello Ada\")\n",
	})
	whl := b.TempDir()
	benchWrite(b, whl, map[string]string{
		"titlecase_lite/__init__.py":            "def title(s):\n    return \" \".join(w[:1].upper() + w[1:] for w in s.split(\" \"))\n",
		"titlecase_lite-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: titlecase-lite\nVersion: 1.0\n",
		"titlecase_lite-1.0.dist-info/WHEEL":    "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"titlecase_lite-1.0.dist-info/RECORD":   "titlecase_lite/__init__.py,,\ntitlecase_lite-1.0.dist-info/METADATA,,\ntitlecase_lite-1.0.dist-info/WHEEL,,\ntitlecase_lite-1.0.dist-info/RECORD,,\n",
	})
	wheel := filepath.Join(b.TempDir(), "titlecase_lite-1.0-py3-none-any.whl")
	benchRun(b, whl, home, nil, "python3", "-m", "zipfile", "-c", wheel, "titlecase_lite", "titlecase_lite-1.0.dist-info")
	benchRun(b, repo, home, nil, "python3", "-m", "venv", ".venv")
	benchRun(b, repo, home, nil, filepath.Join(repo, ".venv/bin/python"), "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check", wheel)
}
