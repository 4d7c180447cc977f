// Package mcptest holds what the MCP tests share: cached installs of the
// official MCP packages from npm at pinned versions (the TypeScript SDK,
// whose client drives `agentos mcp`, and the reference filesystem server
// the gateway governs), in the same test cache as contractortest's CLIs.
package mcptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"time"
)

// Package is an npm package the tests install.
type Package struct {
	Name    string // the npm package
	Version string // exact: never a range or "latest"
	// Check is a file under node_modules that a complete install has.
	Check string
}

// Packages pins every npm package the MCP tests use; .ci/run installs
// exactly these (TestInstallPackages), and the cache is keyed by version.
var Packages = map[string]Package{
	"sdk":        {Name: "@modelcontextprotocol/sdk", Version: "1.32.2", Check: "@modelcontextprotocol/sdk/package.json"},
	"filesystem": {Name: "@modelcontextprotocol/server-filesystem", Version: "2026.8.31", Check: ".bin/mcp-server-filesystem"},
}

// Install installs the pinned package key (of Packages) into the test
// cache once and returns its node_modules directory. The cache is
// AGENTOS_TEST_CACHE, by default agentos-test in the user cache directory.
func Install(ctx context.Context, key string) (string, error) {
	p, ok := Packages[key]
	if !ok {
		return "", fmt.Errorf("mcptest: no pinned package %q", key)
	}
	cache := os.Getenv("AGENTOS_TEST_CACHE")
	if cache == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the npm install (%v); set AGENTOS_TEST_CACHE", err)
		}
		cache = filepath.Join(uc, "agentos-test")
	}
	dir := filepath.Join(cache, path.Base(p.Name)+"@"+p.Version)
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, p.Check)); err == nil {
		return mods, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("npm is not installed")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// Install beside the final directory, then rename: two test binaries
	// installing at once never see half an install.
	tmp, err := os.MkdirTemp(cache, path.Base(p.Name)+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", tmp, p.Name+"@"+p.Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s@%s failed: %v\n%s", p.Name, p.Version, err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "node_modules", p.Check)); err != nil {
		return "", fmt.Errorf("npm install %s@%s put no %s in node_modules", p.Name, p.Version, p.Check)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(mods, p.Check)); serr != nil {
			return "", err
		}
	}
	return mods, nil
}

// Unavailable reports an install that failed: under CI=true the test
// fails (a real-client test that does not run is a hole), otherwise it is
// skipped with one line saying why.
func Unavailable(ci bool, key string, err error) (fail bool, msg string) {
	p := Packages[key]
	msg = fmt.Sprintf("%s@%s: %v", p.Name, p.Version, err)
	if ci {
		return true, "CI=true: the MCP test with the real " + msg
	}
	return false, "skipping the MCP test with the real " + msg + "; install Node.js and npm, with network access, to run it"
}
