package agentos_test

import (
	"os/exec"
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
