package planfile

import (
	"strings"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	f, err := Parse([]byte(`version: 1
goal: Cut {{ "a" }} release
params:
  - {id: version, question: "Which?", kind: text}
  - {id: channel, question: "Where?", kind: choice, options: [stable, beta], default: stable, blocker: false}
steps:
  - write: {path: VERSION, content: "{{ .params.version }}\n"}
    template: true
  - exec: {argv: [echo, "{{ .params.channel }}"], writes: ["out/{{ .params.channel }}"], timeout: 1m}
    template: true
verify:
  - argv: [grep, -q, "{{ .params.version }}", VERSION]
    template: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Params) != 2 || !f.Params[0].AsQuestion().Blocker || f.Params[1].AsQuestion().Blocker {
		t.Fatalf("params = %+v", f.Params)
	}
	r, err := f.Render(map[string]string{"version": "1.2.3", "channel": "beta"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Steps[0].Fields["content"]; got != "1.2.3\n" {
		t.Errorf("content = %q", got)
	}
	if got := r.Steps[1].Argv[1]; got != "beta" {
		t.Errorf("argv = %q", got)
	}
	if got := r.Steps[1].Writes[0]; got != "out/beta" {
		t.Errorf("writes = %q", got)
	}
	if _, err := f.Render(map[string]string{"version": "1"}); err == nil {
		t.Error("a missing param rendered")
	}
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\ngoal: g\nsteps:\n  - write: {path: a}\n", `line 4: step 1 (write): missing field "content"`},
		{"version: 1\ngoal: g\nsteps:\n  - nuke: {path: a}\n", `line 4: step 1: unknown key "nuke"`},
		{"version: 1\ngoal: g\nsteps:\n  - exec: {argv: ls}\n", `line 4: step 1 (exec): field "argv": wrong type`},
		{"version: 1\ngoal: g\nsteps: []\n", `line 3: field "steps" is empty`},
		{"version: 1\nsteps:\n  - mkdir: {path: a}\n", `missing field "goal"`},
		{"goal: g\nsteps:\n  - mkdir: {path: a}\n", `missing field "version"`},
		{"version: 1\ngoal: g\nparams:\n  - {id: x, question: q, kind: choice}\nsteps:\n  - mkdir: {path: a}\n", `kind choice needs options`},
		{"", "the plan file is empty"},
		// A second document is refused, never ignored (it wrote .git/hooks).
		{"version: 1\ngoal: g\nsteps:\n  - mkdir: {path: a}\n---\nversion: 1\ngoal: evil\nsteps:\n  - write: {path: .git/hooks/pre-commit, content: x}\n", "line 5: the plan file holds a second YAML document"},
		{"version: 1\ngoal: g\nsteps:\n  - mkdir: {path: a}\n---\n", "line 5: the plan file holds a second YAML document"},
		{"version: 1\ngoal: g\nparams:\n  - {id: x, question: q, durable: maybe}\nsteps:\n  - mkdir: {path: a}\n", "param 1"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// Whatever the bytes, Parse returns a plan or an error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add("version: 1\ngoal: g\nsteps:\n  - write: {path: a, content: b}\n")
	f.Add("version: 1\ngoal: g\nsteps:\n  - exec: {argv: [a], env: {A: b}}\nverify:\n  - argv: [b]\n")
	f.Add("version: 1\ngoal: g\nparams:\n  - {id: v, question: q}\nsteps:\n  - write: {path: a, content: \"{{ .params.v }} ${{ x }}\"}\n    template: true\n")
	f.Add("version: 1\ngoal: g\nsteps:\n  - write: {path: a, content: !!binary AP8=}\n  - patch:\n      diff: |\n        @@ -1,2 +1,2 @@\n        -a\n        +b\n")
	f.Add("{")
	f.Add("version: 1\ngoal: g\nsteps: [[[]]]")
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := Parse([]byte(doc))
		if err == nil && (p == nil || len(p.Steps) == 0 || p.Goal == "") {
			t.Fatalf("accepted an incomplete plan: %+v", p)
		}
		if err == nil {
			p.Render(map[string]string{})
		}
	})
}

// A param with a default is not a blocker unless it says so (issue 16's
// trap: blocker defaulted to true even when a default was given).
func TestParamBlockerDefault(t *testing.T) {
	def := "stable"
	yes, no := true, false
	for _, tc := range []struct {
		p    Param
		want bool
	}{
		{Param{ID: "a"}, true},
		{Param{ID: "b", Default: &def}, false},
		{Param{ID: "c", Default: &def, Blocker: &yes}, true},
		{Param{ID: "d", Blocker: &no}, false},
	} {
		if got := tc.p.AsQuestion().Blocker; got != tc.want {
			t.Errorf("%s: blocker %v, want %v", tc.p.ID, got, tc.want)
		}
	}
}

// Two wrong fields: the error names the first in the file, every time
// (fields used to be checked in a map's random order).
func TestFieldErrorsInDocumentOrder(t *testing.T) {
	in := []byte("version: 1\ngoal: 2\nsteps:\n- exec:\n      argv: XA7091A11\n      writes: x\n")
	for range 50 {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), `field "argv"`) {
			t.Fatalf("Parse = %v, want the error about argv (the first wrong field)", err)
		}
	}
	both := []byte("version: 1\ngoal: g\nsteps:\n- write: {path: a, content: b}\n  delete: {path: c}\n")
	for range 50 {
		_, err := Parse(both)
		if err == nil || !strings.Contains(err.Error(), `has both "write" and "delete"`) {
			t.Fatalf("Parse = %v, want the two actions named in document order", err)
		}
	}
}
