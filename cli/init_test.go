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
// command verifyFor gives (argv quoted, whatever it contains) otherwise.
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
	argv := []string{"go", "test", "./...", "-run", `a: "b" #c`}
	old := verifyFor
	verifyFor = func(e ecosystem) [][]string {
		if e.marker == "go.mod" {
			return [][]string{argv}
		}
		return nil
	}
	defer func() { verifyFor = old }()
	body, _, err = renderInit(root, "main")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = config.Parse(body, "agentos.yaml"); err != nil {
		t.Fatalf("%v in:\n%s", err, body)
	}
	if len(c.Verify.Default) != 1 || !reflect.DeepEqual(c.Verify.Default[0].Argv, argv) || c.Verify.AllowUnverified {
		t.Fatalf("verify = %+v", c.Verify)
	}
}
