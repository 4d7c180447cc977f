package sandbox_test

import (
	"strings"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

// The outputs are what these tools print in the sandbox (captured with
// `agentos sandbox run`, trimmed), or their documented message formats.
func TestDiagnoseOffline(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      sandbox.Offline
		fetch     string // in the hint
	}{
		{
			name: "go test, module not cached",
			out: "FAIL\texample.com/m [setup failed]\nFAIL\ngo: downloading github.com/agentos-test/missing v1.2.3\n# example.com/m\n" +
				`m.go:3:8: github.com/agentos-test/missing@v1.2.3: Get "https://proxy.golang.org/github.com/agentos-test/missing/@v/v1.2.3.zip": dial tcp: lookup proxy.golang.org on 10.255.255.53:53: dial udp 10.255.255.53:53: socket: address family not supported by protocol` + "\n",
			want:  sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "github.com/agentos-test/missing@v1.2.3"},
			fetch: "`go mod download`",
		},
		{
			name: "go mod download",
			out:  `go: github.com/spf13/pflag@v1.0.6: Get "https://proxy.golang.org/github.com/spf13/pflag/@v/v1.0.6.mod": dial tcp: lookup proxy.golang.org: no such host`,
			want: sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "github.com/spf13/pflag@v1.0.6"},
		},
		{
			name: "go checksum database",
			out:  `verifying github.com/x/y@v1.0.0: github.com/x/y@v1.0.0: Get "https://sum.golang.org/lookup/github.com/x/y@v1.0.0": dial tcp: lookup sum.golang.org: no such host`,
			want: sandbox.Offline{Ecosystem: "go", Host: "sum.golang.org", Port: 443, Package: "github.com/x/y@v1.0.0"},
		},
		{
			name: "go, read-only module cache",
			out:  "# github.com/spf13/cobra/doc\ndoc/yaml_docs.go:27:2: open /root/go/pkg/mod/cache/download/go.yaml.in/yaml/v3/@v/v3.0.4.lock: read-only file system\nFAIL\tgithub.com/spf13/cobra/doc [setup failed]\n",
			want: sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "go.yaml.in/yaml/v3@v3.0.4", Note: "the module cache the sandbox sees is read-only and does not hold it"},
		},
		{
			name: "go, read-only module cache, upper case module path",
			out:  "x.go:3:2: open /h/go/pkg/mod/cache/download/github.com/!burnt!sushi/toml/@v/v1.4.0.zip: read-only file system\n",
			want: sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "github.com/BurntSushi/toml@v1.4.0", Note: "the module cache the sandbox sees is read-only and does not hold it"},
		},
		{
			name: "GOPROXY=off",
			out:  "go: downloading github.com/agentos-test/missing v1.2.3\nm.go:3:8: module lookup disabled by GOPROXY=off\n",
			want: sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "github.com/agentos-test/missing@v1.2.3", Note: "module lookup is disabled by GOPROXY=off"},
		},
		{
			name: "GOFLAGS=-mod=mod finding a missing import",
			out:  "go: finding module for package github.com/x/z\nm.go:3:8: cannot find module providing package github.com/x/z: dial tcp: lookup proxy.golang.org: no such host\n",
			want: sandbox.Offline{Ecosystem: "go", Host: "proxy.golang.org", Port: 443, Package: "github.com/x/z"},
		},
		{
			name: "GOPROXY=direct runs git",
			out: "go: downloading github.com/agentos-test/missing v1.2.3\nm.go:3:8: reading github.com/agentos-test/missing/go.mod at revision v1.2.3: git ls-remote -q --end-of-options https://github.com/agentos-test/missing in /tmp/x: exit status 128:\n" +
				"\tfatal: unable to access 'https://github.com/agentos-test/missing/': Could not resolve host: github.com\n",
			want: sandbox.Offline{Ecosystem: "go", Host: "github.com", Port: 443, Package: "github.com/agentos-test/missing@v1.2.3"},
		},
		{
			name: "npm install",
			out: "npm error code EAI_AGAIN\nnpm error syscall getaddrinfo\nnpm error errno EAI_AGAIN\n" +
				"npm error request to https://registry.npmjs.org/@types%2fnode failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org\n",
			want:  sandbox.Offline{Ecosystem: "npm", Host: "registry.npmjs.org", Port: 443, Package: "@types/node"},
			fetch: "`npm ci`",
		},
		{
			name: "npm ENOTFOUND",
			out:  "npm ERR! request to https://registry.npmjs.org/left-pad failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org\n",
			want: sandbox.Offline{Ecosystem: "npm", Host: "registry.npmjs.org", Port: 443, Package: "left-pad"},
		},
		{
			name: "npm --offline",
			out:  "npm error code ENOTCACHED\nnpm error request to https://registry.npmjs.org/left-pad failed: cache mode is 'only-if-cached' but no cached response is available.\n",
			want: sandbox.Offline{Ecosystem: "npm", Host: "registry.npmjs.org", Port: 443, Package: "left-pad", Note: "npm runs from its cache only (ENOTCACHED)"},
		},
		{
			name: "pnpm",
			out:  " ERR_PNPM_META_FETCH_FAIL  GET https://registry.npmjs.org/is-odd: request to https://registry.npmjs.org/is-odd failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org\n",
			want: sandbox.Offline{Ecosystem: "pnpm", Host: "registry.npmjs.org", Port: 443, Package: "is-odd"},
		},
		{
			name: "a private npm registry on its own port",
			out:  "npm error request to http://npm.corp.example:4873/left-pad failed, reason: getaddrinfo ENOTFOUND npm.corp.example\n",
			want: sandbox.Offline{Ecosystem: "npm", Host: "npm.corp.example", Port: 4873, Package: "left-pad"},
		},
		{
			name: "pip",
			out: "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7fa6a5daa7d0>: Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/agentos-nonexistent-pkg/\n" +
				"ERROR: Could not find a version that satisfies the requirement agentos-nonexistent-pkg==1.0 (from versions: none)\nERROR: No matching distribution found for agentos-nonexistent-pkg==1.0\n",
			want:  sandbox.Offline{Ecosystem: "python", Host: "pypi.org", Port: 443, Package: "agentos-nonexistent-pkg==1.0"},
			fetch: "`pip download -r requirements.txt -d DIR`",
		},
		{
			name: "pip naming the host",
			out:  "ERROR: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Max retries exceeded with url: /packages/requests.whl (Caused by NewConnectionError('Failed to establish a new connection: [Errno -3] Temporary failure in name resolution'))\n",
			want: sandbox.Offline{Ecosystem: "python", Host: "files.pythonhosted.org", Port: 443},
		},
		{
			name: "pip offline, only the verdict",
			out:  "ERROR: No matching distribution found for requests\n",
			want: sandbox.Offline{Ecosystem: "python", Host: "pypi.org", Port: 443, Package: "requests"},
		},
		{
			name: "uv",
			out: "error: Failed to fetch: `https://pypi.org/simple/requests/`\n  Caused by: Request failed after 3 retries\n  Caused by: error sending request for url (https://pypi.org/simple/requests/)\n" +
				"  Caused by: client error (Connect)\n  Caused by: dns error: failed to lookup address information: Temporary failure in name resolution\n",
			want:  sandbox.Offline{Ecosystem: "uv", Host: "pypi.org", Port: 443, Package: "requests"},
			fetch: "`uv sync`",
		},
		{
			name: "cargo build",
			out: "    Updating crates.io index\nwarning: spurious network error (3 tries remaining): [6] Could not resolve hostname (Could not resolve host: index.crates.io)\n" +
				"error: failed to get `serde` as a dependency of package `x v0.1.0 (/tmp/nettry/rs)`\n\nCaused by:\n  download of config.json failed\n\nCaused by:\n  failed to download from `https://index.crates.io/config.json`\n",
			want:  sandbox.Offline{Ecosystem: "cargo", Host: "index.crates.io", Port: 443, Package: "serde"},
			fetch: "`cargo fetch`",
		},
		{
			name: "cargo --offline",
			out:  "error: failed to download `serde v1.0.210`\n\nCaused by:\n  attempting to make an HTTP request, but --offline was specified\n",
			want: sandbox.Offline{Ecosystem: "cargo", Host: "index.crates.io", Port: 443, Package: "serde v1.0.210", Note: "cargo runs with --offline"},
		},
		{
			name: "cargo --offline, no such package in the cache",
			out:  "error: no matching package named `serde` found\nlocation searched: crates.io index\nrequired by package `x v0.1.0 (/tmp/nettry/rs)`\nAs a reminder, you're using offline mode (--offline) which can sometimes cause surprising resolution failures\n",
			want: sandbox.Offline{Ecosystem: "cargo", Host: "index.crates.io", Port: 443, Package: "serde", Note: "cargo runs with --offline"},
		},
		{
			name: "curl",
			out:  "curl: (6) Could not resolve host: downloads.example.com\n",
			want: sandbox.Offline{Host: "downloads.example.com", Port: 443},
		},
		{
			name: "a test that calls an API",
			out:  "--- FAIL: TestFetch (0.00s)\n    fetch_test.go:12: Get \"http://api.example.com:8080/v1\": dial tcp: lookup api.example.com: no such host\nFAIL\n",
			want: sandbox.Offline{Host: "api.example.com", Port: 8080},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sandbox.DiagnoseOffline(tc.out)
			if !ok || got != tc.want {
				t.Fatalf("DiagnoseOffline = %+v, %v; want %+v", got, ok, tc.want)
			}
			h := got.Hint()
			for _, w := range []string{got.Host, `"` + got.Host + ":", "sandbox.allow_tcp", tc.fetch, got.Package} {
				if !strings.Contains(h, w) {
					t.Errorf("hint %q does not name %q", h, w)
				}
			}
			if strings.Contains(h, "\n") {
				t.Errorf("hint %q is more than one line", h)
			}
			if s := sandbox.OfflineHint(tc.out); s != "; "+h {
				t.Errorf("OfflineHint = %q, want \"; \" + the hint", s)
			}
		})
	}
}

func TestDiagnoseOfflineIgnoresOtherFailures(t *testing.T) {
	for _, out := range []string{
		"",
		"--- FAIL: TestAdd (0.00s)\n    add_test.go:9: Add(1, 2) = 4, want 3\nFAIL\n",
		"m.go:3:8: missing go.sum entry for module providing package github.com/x/y (imported by example.com/m); to add:\n\tgo get example.com/m\n",
		"npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found\n",
		"error[E0308]: mismatched types\n",
		// A local service the test expected is not a dependency.
		"curl: (7) Failed to connect to localhost port 8080 after 0 ms: Couldn't connect to server\n",
		"dial tcp: lookup localhost: no such host\n",
		"AssertionError: assert 1 == 2\n",
	} {
		if got, ok := sandbox.DiagnoseOffline(out); ok {
			t.Errorf("DiagnoseOffline(%q) = %+v, want nothing", out, got)
		}
		if s := sandbox.OfflineHint(out); s != "" {
			t.Errorf("OfflineHint(%q) = %q, want \"\"", out, s)
		}
	}
}
