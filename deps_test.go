package agentos_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The root package imports only the standard library and canonjson
// (tailscale-style guard: a new import here fails the build of this test).
func TestRootImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.Contains(imp, ".") && imp != "github.com/agentos/agentos/canonjson" {
			t.Errorf("root package imports %s: keep the domain package free of dependencies", imp)
		}
	}
}

// Every package says what it is for.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{.Doc}}`, "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, " ")
		if strings.TrimSpace(doc) == "" && !strings.Contains(path, "deps_tmp") {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}

// The build is cgo-free, so `go install` works anywhere: no dependency
// outside the standard library has cgo files. (Listing is cheap; a second
// CGO_ENABLED=0 build of everything would double CI's compile time.)
func TestCgoFreeDeps(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-e", "-f", `{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}} {{len .GoFiles}} {{with .Error}}{{.}}{{end}}{{end}}`, "./cmd/agentos")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			continue
		}
		if f[1] != "0" || f[2] == "0" || (len(f) == 4 && strings.TrimSpace(f[3]) != "") {
			t.Errorf("with CGO_ENABLED=0, %s does not build from pure Go: %s", f[0], line)
		}
	}
}

const module = "github.com/agentos/agentos"

// depGraph is the import graph of every package of the module and what it
// reaches (go list -deps -json), non-test imports only: what a test imports
// never ships in the binary.
func depGraph(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		g[p.ImportPath] = p.Imports
	}
	return g
}

// chain returns an import path from pkg to a package matching bad
// (pkg -> ... -> bad), or nil when pkg does not reach one.
func chain(g map[string][]string, pkg string, bad func(string) bool) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if bad(p) {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, imp := range g[p] {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// TestPipelineDeps: the pipeline (package coordinator) and the domain (the
// root package) depend on interfaces they declare, never on a store
// driver, a model SDK or the CLI framework; cmd/agentos wires those in
// (tailscale's tstest/deptest, by hand). A failure prints the import chain
// to cut: declare an interface in the coordinator and wire the
// implementation in the CLI.
func TestPipelineDeps(t *testing.T) {
	g := depGraph(t)
	forbidden := []string{
		"database/sql",
		"modernc.org/sqlite",
		"github.com/jackc/pgx",
		"github.com/openai/openai-go",
		"github.com/spf13/cobra",
	}
	for _, pkg := range []string{module, module + "/coordinator"} {
		if _, ok := g[pkg]; !ok {
			t.Fatalf("go list did not list %s", pkg)
		}
		for _, f := range forbidden {
			bad := func(p string) bool { return p == f || strings.HasPrefix(p, f+"/") }
			if c := chain(g, pkg, bad); c != nil {
				t.Errorf("%s reaches %s: %s", pkg, f, strings.Join(c, " -> "))
			}
		}
	}
	// The pipeline drives git only through the Git interface it declares
	// (coordinator/git.go), so it never composes git argv itself; the CLI
	// wires in package gitrepo.
	for _, imp := range g[module+"/coordinator"] {
		if imp == module+"/gitrepo" {
			t.Errorf("%s imports %s: add a method to coordinator.Git and implement it in gitrepo instead", module+"/coordinator", imp)
		}
	}
}

// TestDirectImporters: only the store adapters talk SQL, and only the CLI
// (and cmd/, which wires it) knows cobra. Test files may import anything.
func TestDirectImporters(t *testing.T) {
	g := depGraph(t)
	allowed := map[string][]string{
		"database/sql": {
			module + "/sqlite",
			module + "/postgres",
		},
		"github.com/spf13/cobra": {module + "/cli"},
	}
	for pkg, imports := range g {
		if !strings.HasPrefix(pkg, module) || strings.HasPrefix(pkg, module+"/cmd/") {
			continue
		}
		for _, imp := range imports {
			if ok, listed := allowed[imp]; listed && !slices.Contains(ok, pkg) {
				t.Errorf("%s imports %s; only %s may", pkg, imp, strings.Join(ok, ", "))
			}
		}
	}
}
