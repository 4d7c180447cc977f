package sandbox

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Commands run offline: a build that needs a dependency not in the caches
// fails with a lookup error deep in its output and no word on what to do.
// DiagnoseOffline reads a failed command's output for the signs of a
// network fetch, so the failure can name what was missing and the two ways
// out: fetch it on the host, or allow the registry by name in allow_tcp.

// Offline is what a failed command's output says it tried to fetch.
type Offline struct {
	// Ecosystem is "go", "npm", "pnpm", "yarn", "python", "uv", "cargo",
	// or "" when the output names no package manager.
	Ecosystem string
	// Host is the host it tried to reach, Port the port (443 unless a URL
	// in the output says otherwise).
	Host string
	Port int
	// Package is the module or package the output names ("" if none).
	Package string
	// Note says why the lookup could not happen when that is not the
	// sandbox alone (e.g. "module lookup is disabled by GOPROXY=off").
	Note string
}

// hintRegexps are compiled on first use: only a failed command's output
// is ever diagnosed.
type hintRegexps struct {
	reGoLookup      *regexp.Regexp
	reNodeDNS       *regexp.Regexp
	reCurl          *regexp.Regexp
	reURLLib3       *regexp.Regexp
	reNpmRequest    *regexp.Regexp
	reURL           *regexp.Regexp
	reGoROCache     *regexp.Regexp
	reGoModule      *regexp.Regexp
	reGoDownloading *regexp.Regexp
	reGoPackage     *regexp.Regexp
	reGoMarker      *regexp.Regexp
	rePipPackage    *regexp.Regexp
	rePipSimple     *regexp.Regexp
	reCargoPackage  *regexp.Regexp
}

var hintRes = sync.OnceValue(func() *hintRegexps {
	return &hintRegexps{
		// Each finds the host in a line that says a name did not resolve or a
		// connection could not be made.
		reGoLookup:   regexp.MustCompile(`dial tcp: lookup ([A-Za-z0-9._-]+)`),
		reNodeDNS:    regexp.MustCompile(`getaddrinfo (?:ENOTFOUND|EAI_AGAIN) ([A-Za-z0-9._-]+)`),
		reCurl:       regexp.MustCompile(`Could not resolve host: ([A-Za-z0-9._-]+)`),
		reURLLib3:    regexp.MustCompile(`host='([A-Za-z0-9._-]+)'[^\n]*(?:NewConnectionError|NameResolutionError|Failed to establish a new connection)`),
		reNpmRequest: regexp.MustCompile(`request to (https?://\S+) failed`),
		reURL:        regexp.MustCompile(`https?://[A-Za-z0-9._-]+(?::[0-9]+)?[^\s"'()<>` + "`" + `]*`),

		reGoROCache:     regexp.MustCompile(`/cache/download/(\S+)/@v/(v[^/\s]+?)\.(?:lock|zip|mod|info|ziphash)\S*: read-only file system`),
		reGoModule:      regexp.MustCompile(`([A-Za-z0-9._~/-]+\.[A-Za-z0-9._~/-]+@v[A-Za-z0-9._+-]+): (?:Get|reading|verifying|module lookup)`),
		reGoDownloading: regexp.MustCompile(`(?m)^go: downloading (\S+) (v\S+)`),
		reGoPackage:     regexp.MustCompile(`(?:module providing package|finding module for package) ([A-Za-z0-9._~/-]+)`),
		reGoMarker:      regexp.MustCompile(`(?m)^go: |GOPROXY|GOFLAGS|\.go:\d+:\d+: \S+@v|go\.sum`),
		rePipPackage:    regexp.MustCompile(`No matching distribution found for ([^\s;]+)`),
		rePipSimple:     regexp.MustCompile(`/simple/([A-Za-z0-9._-]+)/`),
		reCargoPackage:  regexp.MustCompile("(?:failed to get `([^`]+)` as a dependency|failed to download `([^`]+)`|no matching package named `([^`]+)` found)"),
	}
})

// DiagnoseOffline reads the output of a failed command for the signs of a
// network fetch the sandbox did not allow. It reports false when the output
// shows none: most failures have nothing to do with the network.
func DiagnoseOffline(output string) (Offline, bool) {
	var o Offline
	switch {
	case match(hintRes().reGoLookup, output) != "":
		o.Host = match(hintRes().reGoLookup, output)
	case match(hintRes().reNodeDNS, output) != "":
		o.Host = match(hintRes().reNodeDNS, output)
	case match(hintRes().reCurl, output) != "":
		o.Host = match(hintRes().reCurl, output)
	case match(hintRes().reURLLib3, output) != "":
		o.Host = match(hintRes().reURLLib3, output)
	case strings.Contains(output, "ENOTCACHED"):
		o.Host = urlHost(match(hintRes().reNpmRequest, output))
		o.Ecosystem, o.Note = "npm", "npm runs from its cache only (ENOTCACHED)"
	case hintRes().reGoROCache.MatchString(output):
		// The go profile's module cache is the host's, read-only: go
		// could not even start a download.
		m := hintRes().reGoROCache.FindStringSubmatch(output)
		o.Ecosystem, o.Package = "go", unescapeGoModule(m[1])+"@"+m[2]
		o.Note = "the module cache the sandbox sees is read-only and does not hold it"
	case strings.Contains(output, "module lookup disabled by GOPROXY=off"):
		o.Ecosystem, o.Note = "go", "module lookup is disabled by GOPROXY=off"
	case strings.Contains(output, "failed to lookup address information"),
		strings.Contains(output, "Failed to establish a new connection"),
		strings.Contains(output, "Temporary failure in name resolution"):
		o.Host = urlHost(firstURL(output))
	case strings.Contains(output, "but --offline was specified"),
		strings.Contains(output, "you're using offline mode (--offline)"):
		o.Ecosystem, o.Note = "cargo", "cargo runs with --offline"
	case strings.Contains(output, "network was disabled"):
		o.Ecosystem, o.Note = "uv", "uv runs offline"
	case hintRes().rePipPackage.MatchString(output):
		o.Ecosystem = "python"
	default:
		return Offline{}, false
	}
	if o.Host == "localhost" || strings.HasSuffix(o.Host, ".localhost") {
		// A local service the command expected, not a dependency.
		return Offline{}, false
	}
	if o.Ecosystem == "" {
		o.Ecosystem = ecosystem(o.Host, output)
	}
	if o.Host == "" {
		o.Host = defaultRegistry[o.Ecosystem]
	}
	if o.Host == "" {
		return Offline{}, false
	}
	o.Port = portFor(o.Host, output)
	if o.Package == "" {
		o.Package = packageName(o.Ecosystem, o.Host, output)
	}
	return o, true
}

// unescapeGoModule undoes the module cache's case encoding ("!x" is "X").
func unescapeGoModule(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '!' && i+1 < len(p) {
			i++
			b.WriteString(strings.ToUpper(p[i : i+1]))
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// defaultRegistry is where each ecosystem fetches from unless configured
// otherwise.
var defaultRegistry = map[string]string{
	"go": "proxy.golang.org", "npm": "registry.npmjs.org", "pnpm": "registry.npmjs.org",
	"yarn": "registry.yarnpkg.com", "python": "pypi.org", "uv": "pypi.org", "cargo": "index.crates.io",
}

// ecosystem tells the package manager from the host it tried and the
// marks its messages leave in the output.
func ecosystem(host, out string) string {
	switch {
	case host == "proxy.golang.org" || host == "sum.golang.org" || hintRes().reGoDownloading.MatchString(out) || hintRes().reGoModule.MatchString(out):
		return "go"
	case strings.Contains(out, "ERR_PNPM") || strings.Contains(out, "pnpm"):
		return "pnpm"
	case host == "registry.yarnpkg.com" || strings.Contains(out, "YN0") || strings.Contains(out, "yarn"):
		return "yarn"
	case host == "registry.npmjs.org" || strings.Contains(out, "npm error") || strings.Contains(out, "npm ERR!"):
		return "npm"
	case strings.Contains(out, "\n  Caused by: ") && (host == "pypi.org" || host == "files.pythonhosted.org"):
		return "uv"
	case host == "pypi.org" || host == "files.pythonhosted.org" || hintRes().rePipPackage.MatchString(out) || hintRes().rePipSimple.MatchString(out):
		return "python"
	case strings.HasSuffix(host, "crates.io") || strings.Contains(out, "as a dependency of package") || strings.Contains(out, "crates.io index"):
		return "cargo"
	case hintRes().reGoMarker.MatchString(out):
		// GOPROXY=direct: go ran git, and git could not resolve the host.
		if strings.Contains(out, "git ls-remote") || strings.Contains(out, "go: downloading") {
			return "go"
		}
	}
	return ""
}

// packageName is the module or package the output names, if any.
func packageName(eco, host, out string) string {
	switch eco {
	case "go":
		if m := match(hintRes().reGoModule, out); m != "" {
			return m
		}
		if m := hintRes().reGoDownloading.FindStringSubmatch(out); m != nil {
			return m[1] + "@" + m[2]
		}
		return match(hintRes().reGoPackage, out)
	case "npm", "pnpm", "yarn":
		for _, u := range urls(out) {
			p, err := url.Parse(u)
			if err != nil || p.Hostname() != host {
				continue
			}
			name := strings.TrimPrefix(p.EscapedPath(), "/")
			name = strings.ReplaceAll(strings.ReplaceAll(name, "%2f", "/"), "%2F", "/")
			if strings.HasPrefix(name, "@") {
				if parts := strings.SplitN(name, "/", 3); len(parts) >= 2 {
					return parts[0] + "/" + parts[1]
				}
			}
			if name, _, _ = strings.Cut(name, "/"); name != "" {
				return name
			}
		}
	case "python", "uv":
		if m := match(hintRes().rePipPackage, out); m != "" {
			return m
		}
		return match(hintRes().rePipSimple, out)
	case "cargo":
		if m := hintRes().reCargoPackage.FindStringSubmatch(out); m != nil {
			return m[1] + m[2] + m[3]
		}
	}
	return ""
}

// fetchCommand is the command that fetches an ecosystem's dependencies on
// the host, where the network is.
var fetchCommand = map[string]string{
	"go":     "`go mod download` (run in the repository)",
	"npm":    "`npm ci` (or `npm install`)",
	"pnpm":   "`pnpm install`",
	"yarn":   "`yarn install`",
	"python": "`pip download -r requirements.txt -d DIR` (or `uv sync` / `poetry install`)",
	"uv":     "`uv sync`",
	"cargo":  "`cargo fetch`",
}

// Hint is one line for an error message: what was missing and the two
// ways out.
func (o Offline) Hint() string {
	var b strings.Builder
	if o.Package != "" {
		fmt.Fprintf(&b, "it needed %s from %s", o.Package, o.Host)
	} else {
		fmt.Fprintf(&b, "it tried to reach %s", o.Host)
	}
	b.WriteString(", but commands run offline")
	if o.Note != "" {
		fmt.Fprintf(&b, " (%s)", o.Note)
	}
	b.WriteString(": ")
	if cmd := fetchCommand[o.Ecosystem]; cmd != "" {
		fmt.Fprintf(&b, "fetch it on the host with %s", cmd)
	} else {
		b.WriteString("fetch what it needs on the host before the run")
	}
	fmt.Fprintf(&b, ", or let commands reach that host by name: add %q to sandbox.allow_tcp in agentos.yaml", o.Host+":"+strconv.Itoa(o.Port))
	switch {
	case o.Ecosystem == "go" && strings.Contains(o.Note, "read-only"):
		b.WriteString(` and give go a writable module cache (GOMODCACHE: "{cache}/gomod" in the go profile)`)
	case o.Ecosystem == "go" && o.Note != "":
		b.WriteString(" and do not set GOPROXY=off")
	}
	return b.String()
}

// OfflineHint is "; " and the hint for a failed command's output, or ""
// when the output shows no blocked network fetch: a suffix for the
// one-line error that reports the failure.
func OfflineHint(output string) string {
	if o, ok := DiagnoseOffline(output); ok {
		return "; " + o.Hint()
	}
	return ""
}

func match(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

func firstURL(s string) string {
	for _, u := range urls(s) {
		if h := urlHost(u); h != "" && h != "localhost" && !strings.HasPrefix(h, "127.") {
			return u
		}
	}
	return ""
}

// urls are the URLs in s, without the punctuation that ends a sentence
// or a "GET URL:" prefix.
func urls(s string) []string {
	out := hintRes().reURL.FindAllString(s, -1)
	for i, u := range out {
		out[i] = strings.TrimRight(u, ".,:;")
	}
	return out
}

func urlHost(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Hostname()
	}
	return ""
}

// portFor is the port of the first URL on host in the output, or that of
// its scheme; 443 when no URL names the host.
func portFor(host, out string) int {
	for _, u := range urls(out) {
		p, err := url.Parse(u)
		if err != nil || p.Hostname() != host {
			continue
		}
		if n, err := strconv.Atoi(p.Port()); err == nil && n > 0 {
			return n
		}
		if p.Scheme == "http" {
			return 80
		}
		return 443
	}
	return 443
}

// OutputTail keeps the last bytes written to it, safe for concurrent
// writers (a command's stdout and stderr), for OfflineHint.
type OutputTail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// NewOutputTail keeps the last max bytes.
func NewOutputTail(max int) *OutputTail { return &OutputTail{max: max} }

func (t *OutputTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *OutputTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}
