package planfile

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// binPatch is `git diff --binary` of a new 25-byte file whose base85 data
// happens to contain "{{" (found by trying contents until one did).
const binPatch = "diff --git a/blob.bin b/blob.bin\n" +
	"new file mode 100644\n" +
	"index 0000000000000000000000000000000000000000..cf9b413a48399698d91528a37ab5c0a0dfe6cbe4\n" +
	"GIT binary patch\n" +
	"literal 25\n" +
	"hcmZSh+1wU%>fHb0iVIKFj>#}2Zb>l{{+K8o4FIi)3>^Rf\n" +
	"\n" +
	"literal 0\n" +
	"HcmV?d00001\n" +
	"\n"

// goTmplPatch adds Go-template and Actions syntax to a file: a patch must
// reach git exactly as written.
const goTmplPatch = "diff --git a/page.tmpl b/page.tmpl\n" +
	"--- a/page.tmpl\n" +
	"+++ b/page.tmpl\n" +
	"@@ -1 +1,5 @@\n" +
	" <h1>title</h1>\n" +
	"+<p>{{ .Name }}</p>\n" +
	"+{{/* a comment */}}\n" +
	"+{{ \"x\" }}\n" +
	"+go: ${{ matrix.go }}\n"

// indent prefixes every line of s, for a YAML block scalar.
func indent(s, pre string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if line != "\n" {
			b.WriteString(pre)
		}
		b.WriteString(line)
	}
	return b.String()
}

// The byte-exact rules: every field is passed through as YAML gives it unless
// its step opts in with template: true, and then only {{ .params.ID }} moves.
func TestByteExact(t *testing.T) {
	raw := "\x00\xff\xfe{{ .params.v }}\x80\n\x00"
	b64 := base64.StdEncoding.EncodeToString([]byte(raw))
	type pick func(r *Rendered) string
	content := func(i int) pick { return func(r *Rendered) string { return r.Steps[i].Fields["content"] } }
	diff := func(i int) pick { return func(r *Rendered) string { return r.Steps[i].Fields["diff"] } }
	for _, tc := range []struct {
		name  string
		steps string
		pick  pick
		want  string
	}{
		{"comment action in content", `  - write: {path: a, content: "x {{/* keep me */}} y\n"}`, content(0), "x {{/* keep me */}} y\n"},
		{"string action in content", `  - write: {path: a, content: "{{ \"x\" }}\n"}`, content(0), `{{ "x" }}` + "\n"},
		{"actions expression in content", "  - write:\n      path: .ci.yml\n      content: |\n        go: ${{ matrix.go }}\n        os: ${{ matrix.os }}\n", content(0), "go: ${{ matrix.go }}\nos: ${{ matrix.os }}\n"},
		{"go template in content", `  - write: {path: a.tmpl, content: "<p>{{ .Name }}</p>\n"}`, content(0), "<p>{{ .Name }}</p>\n"},
		{"go template in a diff", "  - patch:\n      diff: |\n" + indent(goTmplPatch, "        "), diff(0), goTmplPatch},
		{"binary patch with {{ in its data", "  - patch:\n      diff: |\n" + indent(binPatch, "        "), diff(0), binPatch},
		{"!!binary: NUL, invalid UTF-8, and {{ .params }} as bytes", "  - write: {path: a.bin, content: !!binary " + b64 + "}\n    template: true", content(0), raw},
		{"!!binary wrapped over lines", "  - write:\n      path: a.bin\n      content: !!binary |\n        " + b64[:8] + "\n        " + b64[8:] + "\n", content(0), raw},
		{"!!binary diff", "  - patch: {diff: !!binary " + base64.StdEncoding.EncodeToString([]byte(binPatch)) + "}", diff(0), binPatch},
		{"template: false keeps a reference as written", "  - write: {path: a, content: \"{{ .params.v }}\\n\"}\n    template: false", content(0), "{{ .params.v }}\n"},
		{"template: true substitutes only the reference", "  - write: {path: .ci.yml, content: \"v={{ .params.v }} {{.params.v}} ${{ matrix.go }} {{ .Name }}\\n\"}\n    template: true", content(0), "v=1.2 1.2 ${{ matrix.go }} {{ .Name }}\n"},
		{"an answer is data, not a template", "  - write: {path: a, content: \"{{ .params.w }}\"}\n    template: true", content(0), "{{ .params.v }}"},
		{"goal and rationale are never touched", "  - write: {path: a, content: b}\n    rationale: \"{{ .params.v }} stays\"", func(r *Rendered) string { return r.Steps[0].Rationale }, "{{ .params.v }} stays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "version: 1\ngoal: g\nparams:\n  - {id: v, question: q}\n  - {id: w, question: q}\nsteps:\n" + tc.steps + "\n"
			f, err := Parse([]byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, doc)
			}
			r, err := f.Render(map[string]string{"v": "1.2", "w": "{{ .params.v }}"})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := tc.pick(r); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The pasted diff lost git's trailing blank lines to YAML's clip chomping;
// Parse puts back exactly those, and nothing when the diff is whole or
// ambiguous.
func TestClippedDiff(t *testing.T) {
	const blankEnd = "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n a\n \n-b\n+B\n \n"
	trimmed := strings.ReplaceAll(blankEnd, "\n \n", "\n\n") // an editor trimmed " " to ""
	for _, tc := range []struct {
		name, in, want string
	}{
		{"whole diff is unchanged", blankEnd, blankEnd},
		{"trimmed blanks inside are left to git", trimmed, trimmed},
		{"one blank context line dropped", strings.TrimSuffix(trimmed, "\n"), trimmed[:len(trimmed)-1] + " \n"},
		{"two dropped", "@@ -1,3 +1,3 @@\n-a\n+A\n", "@@ -1,3 +1,3 @@\n-a\n+A\n \n \n"},
		{"no final newline either", "@@ -1,2 +1,2 @@\n-a\n+A", "@@ -1,2 +1,2 @@\n-a\n+A\n \n"},
		{"old and new short by different counts: not ours", "@@ -1,3 +1,4 @@\n-a\n+A\n", "@@ -1,3 +1,4 @@\n-a\n+A\n"},
		{"a side ended with no newline: not ours", "@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n+A\n\\ No newline at end of file\n", "@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n+A\n\\ No newline at end of file\n"},
		{"a short hunk mid-diff: not ours", "@@ -1,3 +1,3 @@\n-a\n+A\ndiff --git a/g b/g\n", "@@ -1,3 +1,3 @@\n-a\n+A\ndiff --git a/g b/g\n"},
		{"binary patch lost its last empty line", strings.TrimSuffix(binPatch, "\n"), binPatch},
		{"whole binary patch is unchanged", binPatch, binPatch},
		{"not a diff", "hello\n", "hello\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := completeClippedDiff(tc.in); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	// Through YAML, pasted from an editor that trims trailing spaces: the
	// blank context line inside stays "" (git reads it as context), the
	// dropped last one comes back as git prints it.
	for in, want := range map[string]string{
		trimmed:  strings.TrimSuffix(trimmed, "\n") + " \n",
		binPatch: binPatch,
	} {
		doc := "version: 1\ngoal: g\nsteps:\n  - patch:\n      diff: |\n" + indent(in, "        ")
		f, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Steps[0].Fields["diff"]; got != want {
			t.Errorf("through YAML:\ngot  %q\nwant %q", got, want)
		}
	}
}

// Refusals: each names what is wrong and the form to use.
func TestTemplateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, steps, want string
	}{
		{"the old implicit form", `  - write: {path: VERSION, content: "{{ .params.v }}\n"}`, `line 7: step 1 (write): field "content" has {{ .params.v }}, but substitution is opt-in: add "template: true" to the step`},
		{"the old implicit form in a check", "  - mkdir: {path: a}\nverify:\n  - argv: [grep, \"{{ .params.v }}\", VERSION]", `verify check 1: field "argv" has {{ .params.v }}, but substitution is opt-in: add "template: true" to the check`},
		{"an undeclared param", "  - write: {path: a, content: \"{{ .params.nope }}\"}\n    template: true", `{{ .params.nope }} names an undeclared param (declared: v)`},
		{"a pipeline is not a reference", "  - write: {path: a, content: \"{{ .params.v | upper }}\"}\n    template: true", `{{ .params.v | upper }} is not a param reference: write {{ .params.ID }}`},
		{"template takes a bool", "  - write: {path: a, content: b}\n    template: yes please", `field "template": wrong type, want true or false`},
		{"!!binary only for bytes", `  - write: {path: !!binary YQ==, content: b}`, `field "path": !!binary is allowed only for write content and patch diff`},
		{"!!binary in argv", `  - exec: {argv: [!!binary bHM=]}`, `field "argv": !!binary is allowed only`},
		{"!!binary must be base64", `  - write: {path: a, content: !!binary "not base64!"}`, `field "content": !!binary is not valid base64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "version: 1\ngoal: g\nparams:\n  - {id: v, question: q}\nsteps:\n" + tc.steps + "\n"
			// line 6 is "steps:", line 7 the first step.
			doc = strings.Replace(doc, "steps:\n", "\nsteps:\n", 1)
			_, err := Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v\nwant %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is more than one line: %q", err)
			}
		})
	}
}

// A declared param nobody references is still a question; a referenced one
// without a value cannot render.
func TestParamsStillAsked(t *testing.T) {
	f, err := Parse([]byte("version: 1\ngoal: g\nparams:\n  - {id: unused, question: why}\n  - {id: v, question: q}\nsteps:\n  - write: {path: a, content: \"{{ .params.v }}\"}\n    template: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Params) != 2 || f.Params[0].ID != "unused" {
		t.Fatalf("params = %+v", f.Params)
	}
	_, err = f.Render(map[string]string{"unused": "x"})
	if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), `param "v" has no value`) {
		t.Errorf("Render without v = %v", err)
	}
}

// Whatever the text, the repair only appends (blank context lines or one
// empty line, after a newline if the text lacked one), and a repaired diff
// needs no second repair.
func FuzzCompleteClippedDiff(f *testing.F) {
	f.Add("@@ -1,3 +1,3 @@\n-a\n+A\n")
	f.Add(strings.TrimSuffix(binPatch, "\n"))
	f.Add(goTmplPatch)
	f.Add("@@ -1 +1 @@\n-a\n\\ No newline at end of file\n")
	f.Fuzz(func(t *testing.T, diff string) {
		got := completeClippedDiff(diff)
		if got == diff {
			return
		}
		base := diff
		if !strings.HasSuffix(base, "\n") {
			base += "\n"
		}
		added, ok := strings.CutPrefix(got, base)
		if !ok || (added != "\n" && strings.Trim(added, " \n") != "") {
			t.Fatalf("repair of %q changed more than its end: %q", diff, got)
		}
		if again := completeClippedDiff(got); again != got {
			t.Fatalf("repaired diff %q repaired again to %q", got, again)
		}
	})
}

// FuzzBase64 checks the plan's own base64 decoder against the encoding
// package's on the text with its whitespace dropped: whatever it takes as
// simple base64 decodes to the same bytes, in a buffer of its own or over
// the text itself; what it leaves is left to the encoding package.
// go test ./planfile -run '^$' -fuzz FuzzBase64
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "YQ==", "YWI=", "YWJj", "YR==", "YWJ=", "aGVs bG8g\td29y\n bGQ=\r\n", "a===", "====", "YQ=", "YQ==YQ==", "Y Q = =", "_-==", "+/+/", "YWJjZA", "\u00e9abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		stripped := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
		want, err := base64.StdEncoding.DecodeString(stripped)
		size, ok := base64Size(s)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%q taken as simple base64, but the encoding package refuses it: %v", s, err)
		}
		if size != len(want) {
			t.Fatalf("%q: size %d, want %d", s, size, len(want))
		}
		dst := make([]byte, size)
		if n := decodeBase64(dst, []byte(s)); n != size || string(dst) != string(want) {
			t.Fatalf("%q: decoded %q, want %q", s, dst[:n], want)
		}
		b := []byte(s)
		if n := decodeBase64(b, b); string(b[:n]) != string(want) {
			t.Fatalf("%q: decoded in place %q, want %q", s, b[:n], want)
		}
	})
}
