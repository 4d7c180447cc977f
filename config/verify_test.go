package config

import (
	"strings"
	"testing"
)

func TestVerifySection(t *testing.T) {
	ok := "version: 1\nverify:\n  default:\n    - name: go test\n      argv: [go, test, ./...]\n      timeout: 10m\n      cwd: sub/dir\n  allow_unverified: true\n"
	c, err := Parse([]byte(ok), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Verify.Default
	if len(d) != 1 || d[0].Name != "go test" || strings.Join(d[0].Argv, " ") != "go test ./..." || d[0].TimeoutMS() != 600000 || d[0].Cwd != "sub/dir" || !c.Verify.AllowUnverified {
		t.Fatalf("verify = %+v", c.Verify)
	}
	if c, err := Parse([]byte("version: 1\n"), "agentos.yaml"); err != nil || c.Verify.AllowUnverified || len(c.Verify.Default) != 0 {
		t.Fatalf("no verify section: %+v, %v", c, err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\nverify:\n  defualt: []\n", "line 3: field defualt is not a known key here"},
		{"version: 1\nverify:\n  allow_unverified: yes please\n", "line 3: wrong type: `yes please`, want true or false"},
		{"version: 1\nverify:\n  default:\n    - argv: go test\n", "line 4: wrong type: `go test`, want a list"},
		{"version: 1\nverify:\n  default:\n    - nmae: x\n      argv: [true]\n", "line 4: field nmae is not a known key here"},
		{"version: 1\nverify:\n  default:\n    - name: t\n      argv: [true]\n    - name: empty\n      argv: []\n", "line 6: verify.default[1] (empty): argv must name a program"},
		{"version: 1\nverify:\n  default:\n    - argv: [true]\n      timeout: soon\n", "line 4: verify.default[0]: timeout \"soon\" is not a positive duration"},
		{"version: 1\nverify:\n  default:\n    - argv: [true]\n      timeout: -1s\n", "timeout \"-1s\" is not a positive duration"},
		{"version: 1\nverify:\n  default:\n    - argv: [true]\n      cwd: ../up\n", "verify.default[0]: cwd: path \"../up\" contains \"..\""},
		{"version: 1\nverify:\n  default:\n    - argv: [true]\n      cwd: /abs\n", "is absolute"},
		{"version: 1\nverify:\n  default:\n    - argv: [true]\n      cwd: a//b/\n", "cwd \"a//b/\" is not normalised (use \"a/b\")"},
	} {
		_, err := Parse([]byte(tc.doc), "agentos.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
	}
}
