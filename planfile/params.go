package planfile

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/agentos/agentos"
	"go.yaml.in/yaml/v3"
)

// Substitution is opt-in and deliberately not a template language: in a
// step or check with `template: true` the one form {{ .params.ID }} is
// replaced by the param's value, once, and every other byte stays as written.
// So ${{ matrix.go }}, {{ .Name }}, {{/* */}} and binary data are never
// touched, and an answer that itself contains {{ .params.x }} is not expanded.
var (
	// paramRef is the one substituted form (spaces inside the braces optional).
	paramRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{\{\s*\.params\.([A-Za-z0-9_-]+)\s*\}\}`) })
	// paramAction is any {{ … }} action that mentions .params: in an opted-in
	// field it must be a paramRef; elsewhere it is an old plan's implicit
	// template, refused rather than silently written as text.
	paramAction = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{\{[^{}]*\.params\b[^{}]*\}\}`) })
)

// templateFlag reads `template: true|false`.
func templateFlag(n *yaml.Node, where string) (on, set bool, err error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, false, errAt(n, "%s: field \"template\": wrong type, want true or false", where)
	}
	if err := n.Decode(&on); err != nil {
		return false, false, errAt(n, "%s: field \"template\": want true or false", where)
	}
	return on, true, nil
}

// textField is one substitutable string of a step or check.
type textField struct {
	name string
	val  *string
}

func (s *RawStep) textFields() []textField {
	var out []textField
	for _, k := range sortedKeys(s.Fields) {
		if s.binary[k] {
			continue // bytes, not text
		}
		v := s.Fields[k]
		out = append(out, textField{k, &v})
	}
	for i := range s.Argv {
		out = append(out, textField{"argv", &s.Argv[i]})
	}
	for i := range s.Writes {
		out = append(out, textField{"writes", &s.Writes[i]})
	}
	for _, k := range sortedKeys(s.Env) {
		v := s.Env[k]
		out = append(out, textField{"env " + k, &v})
	}
	return out
}

func (c *RawCheck) textFields() []textField {
	var out []textField
	for i := range c.Argv {
		out = append(out, textField{"argv", &c.Argv[i]})
	}
	if c.Cwd != "" {
		out = append(out, textField{"cwd", &c.Cwd})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkRefs is the plan-time half of substitution: in an opted-in step every
// {{ … .params … }} is a well-formed reference to a declared param; in a step
// that says nothing, such a reference is an old plan relying on implicit
// templates and is refused with the new form named. `template: false` keeps
// the text as written, references and all.
func (f *File) checkRefs() error {
	declared := map[string]bool{}
	var ids []string
	for _, p := range f.Params {
		declared[p.ID] = true
		ids = append(ids, p.ID)
	}
	sort.Strings(ids)
	check := func(line int, where, noun string, on, set bool, fields []textField) error {
		for _, tf := range fields {
			for _, act := range paramAction().FindAllString(*tf.val, -1) {
				switch m := paramRef().FindStringSubmatch(act); {
				case !set:
					return &posErr{line, fmt.Sprintf("%s: field %q has %s, but substitution is opt-in: add \"template: true\" to the %s to fill it in, or \"template: false\" to keep the text as written", where, tf.name, act, noun)}
				case !on:
				case m == nil || m[0] != act:
					return &posErr{line, fmt.Sprintf("%s: field %q: %s is not a param reference: write {{ .params.ID }} (nothing else is substituted)", where, tf.name, act)}
				case !declared[m[1]]:
					return &posErr{line, fmt.Sprintf("%s: field %q: %s names an undeclared param (declared: %s)", where, tf.name, act, orNone(ids))}
				}
			}
		}
		return nil
	}
	for i := range f.Steps {
		s := &f.Steps[i]
		if err := check(s.Line, fmt.Sprintf("step %d (%s)", i+1, s.Kind), "step", s.Template, s.templateSet, s.textFields()); err != nil {
			return err
		}
	}
	for i := range f.Verify {
		c := &f.Verify[i]
		if err := check(c.Line, fmt.Sprintf("verify check %d", i+1), "check", c.Template, c.templateSet, c.textFields()); err != nil {
			return err
		}
	}
	return nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// Rendered is a plan file with its params substituted: what validation sees.
type Rendered struct {
	Steps  []RawStep
	Verify []RawCheck
	// ByModel marks a plan a model or contractor proposed: it gets the
	// policy's default verify checks even when it brings checks of its own,
	// so a proposer cannot put a trivial check in place of the
	// repository's tests.
	ByModel bool
}

// Render substitutes {{ .params.ID }} in the steps and checks that opted in
// with `template: true`; everything else is copied byte for byte. A
// referenced param without a value is an error.
func (f *File) Render(values map[string]string) (*Rendered, error) {
	subst := func(where string, on bool, s string) (string, error) {
		if !on {
			return s, nil
		}
		var missing string
		out := paramRef().ReplaceAllStringFunc(s, func(ref string) string {
			id := paramRef().FindStringSubmatch(ref)[1]
			v, ok := values[id]
			if !ok && missing == "" {
				missing = id
			}
			return v
		})
		if missing != "" {
			return "", agentos.Errorf(agentos.EINVALID, "%s: param %q has no value: answer it or give it with --set %s=VALUE", where, missing, missing)
		}
		return out, nil
	}
	out := &Rendered{}
	for i, s := range f.Steps {
		where := fmt.Sprintf("step %d (line %d)", i+1, s.Line)
		r := RawStep{Line: s.Line, Kind: s.Kind, Fields: map[string]string{}, Rationale: s.Rationale, Risk: s.Risk, Template: s.Template, templateSet: s.templateSet, binary: s.binary}
		var err error
		for k, v := range s.Fields {
			if r.Fields[k], err = subst(where, s.Template && !s.binary[k], v); err != nil {
				return nil, err
			}
		}
		for _, a := range s.Argv {
			x, err := subst(where, s.Template, a)
			if err != nil {
				return nil, err
			}
			r.Argv = append(r.Argv, x)
		}
		for _, w := range s.Writes {
			x, err := subst(where, s.Template, w)
			if err != nil {
				return nil, err
			}
			r.Writes = append(r.Writes, x)
		}
		if s.Env != nil {
			r.Env = map[string]string{}
			for k, v := range s.Env {
				if r.Env[k], err = subst(where, s.Template, v); err != nil {
					return nil, err
				}
			}
		}
		out.Steps = append(out.Steps, r)
	}
	for i, c := range f.Verify {
		where := fmt.Sprintf("verify check %d (line %d)", i+1, c.Line)
		r := RawCheck{Line: c.Line, Name: c.Name, Timeout: c.Timeout, Template: c.Template, templateSet: c.templateSet}
		var err error
		for _, a := range c.Argv {
			x, err := subst(where, c.Template, a)
			if err != nil {
				return nil, err
			}
			r.Argv = append(r.Argv, x)
		}
		if r.Cwd, err = subst(where, c.Template, c.Cwd); err != nil {
			return nil, err
		}
		out.Verify = append(out.Verify, r)
	}
	return out, nil
}
