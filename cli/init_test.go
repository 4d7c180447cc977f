package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agentos/agentos/config"
)

// init writes a verify section that loads: `default: []` and
// allow_unverified false when no ecosystem gives a test command, and the
// test command of each detected ecosystem otherwise (argv quoted, whatever
// it contains).
func TestInitVerifySection(t *testing.T) {
	root := t.TempDir()
	body, _, err := renderInit(root, "main")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "verify:\n  default: []\n  allow_unverified: false\n") {
		t.Fatalf("no empty verify section in:\n%s", body)
	}
	c, err := config.Parse(body, "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Verify.Default) != 0 || c.Verify.AllowUnverified {
		t.Fatalf("verify = %+v", c.Verify)
	}

	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	body, _, err = renderInit(root, "main")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = config.Parse(body, "agentos.yaml"); err != nil {
		t.Fatalf("%v in:\n%s", err, body)
	}
	if len(c.Verify.Default) != 1 || !reflect.DeepEqual(c.Verify.Default[0].Argv, []string{"go", "test", "./..."}) || c.Verify.AllowUnverified {
		t.Fatalf("verify = %+v", c.Verify)
	}
	if p, ok := c.Sandbox.Profiles["go"]; !ok || p.Env["GOCACHE"] != "{cache}/go-build" {
		t.Fatalf("no go profile with its build cache: %+v", c.Sandbox.Profiles)
	}

	// Whatever an argv contains, the section stays valid YAML.
	argv := []string{"go", "test", "./...", "-run", `a: "b" #c {x}`}
	ck := newInitCheck(argv)
	doc := "version: 1\nverify:\n  default:\n    - name: " + ck.Name + "\n      argv: " + ck.Argv + "\n"
	if c, err = config.Parse([]byte(doc), "agentos.yaml"); err != nil {
		t.Fatalf("%v in:\n%s", err, doc)
	}
	if !reflect.DeepEqual(c.Verify.Default[0].Argv, argv) {
		t.Fatalf("argv = %q", c.Verify.Default[0].Argv)
	}
}
