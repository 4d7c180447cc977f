// Package planfile reads plan files: plans and runbooks written by a person
// or a tool, in YAML. It checks shape strictly (unknown keys, missing fields
// and wrong types are refused with the line and field named) and declares
// parameters that become questions.
//
// Every field is taken byte for byte as YAML gives it: nothing is a template
// unless its step (or verify check) says `template: true`, and then only the
// references {{ .params.ID }} are replaced, once every parameter has a value.
// `!!binary` content is written as the decoded bytes. See docs/planfile.md.
package planfile

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/agentos/agentos"
	"go.yaml.in/yaml/v3"
)

// Param is a declared parameter; one without a value becomes a question.
type Param struct {
	ID       string   `yaml:"id" json:"id"`
	Question string   `yaml:"question" json:"question"`
	Why      string   `yaml:"why" json:"why"`
	Kind     string   `yaml:"kind" json:"kind"`
	Options  []string `yaml:"options" json:"options"`
	Default  *string  `yaml:"default" json:"default"`
	Blocker  *bool    `yaml:"blocker" json:"blocker"`
	// Durable: the answer stays true beyond this task, so it is remembered
	// (kind answer) once the task commits. Default false: answers are
	// this task's alone.
	Durable bool `yaml:"durable" json:"durable,omitempty"`
}

// Question returns the param as a question.
func (p Param) AsQuestion() agentos.Question {
	// A param with a default is not a blocker unless it says so: its
	// author already said what to use when nobody answers.
	q := agentos.Question{ID: p.ID, Text: p.Question, Why: p.Why, Kind: agentos.QuestionKind(p.Kind), Options: p.Options, Blocker: p.Default == nil}
	if q.Options == nil {
		q.Options = []string{}
	}
	if p.Default != nil {
		q.Default = *p.Default
	}
	if p.Blocker != nil {
		q.Blocker = *p.Blocker
	}
	q.Durable = p.Durable
	return q
}

// RawStep is a step as written, before params are substituted.
type RawStep struct {
	Line      int
	Kind      agentos.StepKind
	Fields    map[string]string // path, content, diff, from, to, cwd, timeout
	Argv      []string
	Writes    []string // exec: the paths (files or directories) the command may change
	Env       map[string]string
	Rationale string
	Risk      string
	// Template is the step's `template: true`: its {{ .params.ID }}
	// references are substituted. Without it every field is byte-exact.
	Template bool

	templateSet bool            // template: given at all (false means "keep as written")
	binary      map[string]bool // fields given as !!binary: bytes, never substituted
}

// RawCheck is a verify check as written.
type RawCheck struct {
	Line     int
	Name     string
	Argv     []string
	Cwd      string
	Timeout  string
	Template bool // as RawStep.Template, for argv and cwd

	templateSet bool
}

// File is a parsed plan file.
type File struct {
	Path    string
	Version int
	Goal    string
	Mode    string
	Labels  []string
	Params  []Param
	Steps   []RawStep
	Verify  []RawCheck
}

// Load reads and parses a plan file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, agentos.Errorf(agentos.EINVALID, "plan file %s does not exist", path)
		}
		return nil, agentos.WrapError(agentos.EINVALID, err, "cannot read plan file %s: %v", path, err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "%s: %v", path, err)
	}
	f.Path = path
	return f, nil
}

type posErr struct {
	line int
	msg  string
}

func (e *posErr) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return e.msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &posErr{line: line, msg: fmt.Sprintf(format, args...)}
}

// Parse parses plan-file bytes.
func Parse(b []byte) (*File, error) { return parse(bytes.NewReader(b)) }

// ParseReader parses a plan file as it is read from r (not held whole).
func ParseReader(r io.Reader) (*File, error) { return parse(r) }

// ParseString parses a plan file held as a string, without copying it
// (a plan file may be as large as limits.plan_file_bytes): its large
// scalars are lifted out before the YAML parser reads it (lift.go).
func ParseString(s string) (*File, error) {
	if f, err, ok := ParseLarge(s); ok {
		return f, err
	}
	return parse(strings.NewReader(s))
}

// ParseLargeInPlace is ParseLarge of the text in buf, which it may
// overwrite: a block or quoted scalar's value is decoded into buf over its
// own text, and !!binary content over its base64, so the file's text and
// that value are never held side by side. kept says buf still holds the
// file's text (nothing was decoded over it). The values may alias buf:
// the caller must not change it afterwards.
func ParseLargeInPlace(buf []byte) (f *File, ok, kept bool, err error) {
	if len(buf) == 0 {
		return nil, false, true, nil
	}
	doc, ok, wrote, own := liftIn(unsafe.String(unsafe.SliceData(buf), len(buf)), buf)
	if !ok {
		return nil, false, !wrote, nil
	}
	f, wroteBin, err := fromDocIn(doc, own)
	return f, true, !wrote && !wroteBin, err
}

// ParseLarge parses s with its scalars of agentos.StreamMin bytes or more
// kept away from the YAML parser, each decoded once (or not copied at all
// when its text is its value). ok is false when s has none, or one the
// pre-pass does not fully follow: then nothing was parsed, and the
// caller parses s another way.
func ParseLarge(s string) (f *File, err error, ok bool) {
	doc, ok := lift(s)
	if !ok {
		return nil, nil, false
	}
	f, err = fromDoc(doc)
	return f, err, true
}

func parse(r io.Reader) (*File, error) {
	doc, err := decodeDoc(r)
	if err != nil {
		return nil, err
	}
	return fromDoc(doc)
}

// decodeDoc reads the one YAML document of a plan file.
func decodeDoc(r io.Reader) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// A second document would be silently ignored by a reader that takes
	// the first, and run by one that takes the last: refuse it.
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil || line == 0 {
			return nil, errors.New("the plan file holds more than one YAML document (a \"---\" separator): put the plan in one document")
		}
		return nil, &posErr{line, "the plan file holds a second YAML document: put the plan in one document (no \"---\" separator)"}
	}
	return &doc, nil
}

func fromDoc(doc *yaml.Node) (*File, error) {
	f, _, err := fromDocIn(doc, nil)
	return f, err
}

// binaryInPlace is a !!binary field decoded over its own base64 text once
// the whole file has been checked (fromDocIn).
type binaryInPlace struct {
	fields map[string]string
	key    string
	n      *yaml.Node
}

// fromDocIn is fromDoc; own holds the nodes whose value lies in the
// plan file's buffer and is theirs alone (liftIn): a !!binary body among
// them in simple base64 is decoded over its text, written only once every
// other check on the file has passed (wrote says it was).
func fromDocIn(doc *yaml.Node, own map[*yaml.Node]bool) (f *File, wrote bool, err error) {
	var pending []binaryInPlace
	if f, err = fromDocPending(doc, own, &pending); err != nil {
		return nil, false, err
	}
	for _, p := range pending {
		b := unsafe.Slice(unsafe.StringData(p.n.Value), len(p.n.Value))
		n := decodeBase64(b, b) // 3 bytes written for 4 read: never ahead of the reading
		p.fields[p.key] = unsafe.String(unsafe.SliceData(b), n)
		wrote = true
	}
	return f, wrote, nil
}

func fromDocPending(doc *yaml.Node, own map[*yaml.Node]bool, pending *[]binaryInPlace) (*File, error) {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the plan file is empty: it needs version, goal and steps")
	}
	root := doc.Content[0]
	m, err := mapping(root, "the plan", map[string]bool{"version": true, "goal": true, "mode": true, "labels": true, "params": true, "steps": true, "verify": true})
	if err != nil {
		return nil, err
	}
	f := &File{}
	if n, ok := m["version"]; !ok {
		return nil, errAt(root, "missing field \"version\" (use version: 1)")
	} else if err := n.Decode(&f.Version); err != nil || f.Version != 1 {
		return nil, errAt(n, "field \"version\": must be 1")
	}
	if n, ok := m["goal"]; !ok {
		return nil, errAt(root, "missing field \"goal\": say in one line what the plan achieves")
	} else if f.Goal, err = scalar(n, "goal"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(f.Goal) == "" {
		return nil, errAt(m["goal"], "field \"goal\" is empty")
	}
	if n, ok := m["mode"]; ok {
		if f.Mode, err = scalar(n, "mode"); err != nil {
			return nil, err
		}
	}
	if n, ok := m["labels"]; ok {
		if f.Labels, err = strList(n, "the plan", "labels"); err != nil {
			return nil, err
		}
	}
	if n, ok := m["params"]; ok {
		if f.Params, err = parseParams(n); err != nil {
			return nil, err
		}
	}
	n, ok := m["steps"]
	if !ok {
		return nil, errAt(root, "missing field \"steps\"")
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "field \"steps\": wrong type, want a list of steps")
	}
	if len(n.Content) == 0 {
		return nil, errAt(n, "field \"steps\" is empty: a plan needs at least one step")
	}
	for i, sn := range n.Content {
		s, err := parseStep(sn, i+1, own, pending)
		if err != nil {
			return nil, err
		}
		f.Steps = append(f.Steps, s)
	}
	if n, ok := m["verify"]; ok {
		if n.Kind != yaml.SequenceNode {
			return nil, errAt(n, "field \"verify\": wrong type, want a list of checks")
		}
		for i, cn := range n.Content {
			c, err := parseCheck(cn, i+1)
			if err != nil {
				return nil, err
			}
			f.Verify = append(f.Verify, c)
		}
	}
	if err := f.checkRefs(); err != nil {
		return nil, err
	}
	return f, nil
}

// docOrder is a mapping node's keys as the document gives them: fields
// are checked in that order, so a file with two wrong fields is always
// refused for the first (a map's order is random).
func docOrder(n *yaml.Node) []string {
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

func mapping(n *yaml.Node, where string, allowed map[string]bool) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s: wrong type, want a mapping of keys", where)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !allowed[k.Value] {
			return nil, errAt(k, "%s: unknown key %q (allowed: %s)", where, k.Value, keys(allowed))
		}
		if _, dup := out[k.Value]; dup {
			return nil, errAt(k, "%s: key %q given twice", where, k.Value)
		}
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}

func keys(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func scalar(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errAt(n, "field %q: wrong type, want a string", field)
	}
	return n.Value, nil
}

func strList(n *yaml.Node, where, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "%s: field %q: wrong type, want a list of strings", where, field)
	}
	out := []string{}
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, errAt(c, "%s: field %q: wrong type, want a list of strings", where, field)
		}
		if isBinaryTag(c) {
			return nil, errBinaryField(c, where, field)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func isBinaryTag(n *yaml.Node) bool { return n.ShortTag() == "!!binary" }

func errBinaryField(n *yaml.Node, where, field string) error {
	return errAt(n, "%s: field %q: !!binary is allowed only for write content and patch diff", where, field)
}

// decodeBinary returns the bytes of a !!binary scalar. YAML lets base64 be
// wrapped over lines and indented, so all whitespace is dropped first.
// Simple base64 (base64Size) is decoded once, into its exact size, with no
// copy of the text; anything else is left to the encoding package, whose
// error the plan's author sees.
func decodeBinary(n *yaml.Node, where, field string) (string, error) {
	if size, ok := base64Size(n.Value); ok {
		if size == 0 {
			return "", nil
		}
		b := make([]byte, size)
		decodeBase64(b, unsafe.Slice(unsafe.StringData(n.Value), len(n.Value)))
		return unsafe.String(&b[0], size), nil // b is never written again
	}
	b64 := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, n.Value)
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", errAt(n, "%s: field %q: !!binary is not valid base64 (%v)", where, field, err)
	}
	return string(b), nil
}

// base64Size is the size of the bytes s decodes to when s is simple
// base64: the standard alphabet, blanks and line breaks anywhere, and "="
// or "==" only to end the last group of four. For such text
// base64.StdEncoding, with the whitespace dropped, gives the bytes
// decodeBase64 gives; anything else (ok false) is left to it. Linear.
func base64Size(s string) (size int, ok bool) {
	n, pad := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == '=':
			pad++
		case pad > 0 || b64Value(c) < 0:
			return 0, false
		}
		n++
	}
	if n%4 != 0 || pad > 2 {
		return 0, false
	}
	return n/4*3 - pad, true
}

// decodeBase64 decodes src, simple base64 (base64Size), into dst and
// returns how many bytes it wrote. dst may be src itself: the byte at
// dst[i] is written only after src[i] was read.
func decodeBase64(dst, src []byte) int {
	var acc uint32
	k, w := 0, 0
	for i := 0; i < len(src); i++ {
		v := b64Value(src[i])
		if v < 0 {
			continue // whitespace, and the padding at the end
		}
		acc, k = acc<<6|uint32(v), k+1
		if k == 4 {
			dst[w], dst[w+1], dst[w+2] = byte(acc>>16), byte(acc>>8), byte(acc)
			w, acc, k = w+3, 0, 0
		}
	}
	// What "==" or "=" ended (the bits left over are dropped, as
	// base64.StdEncoding does).
	switch k {
	case 2:
		dst[w] = byte(acc >> 4)
		w++
	case 3:
		dst[w], dst[w+1] = byte(acc>>10), byte(acc>>2)
		w += 2
	}
	return w
}

// b64Value is the value of a character of the standard base64 alphabet;
// -1 for any other.
func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

var stepFields = map[agentos.StepKind]struct {
	required []string
	optional []string
}{
	agentos.StepWrite:  {[]string{"path", "content"}, nil},
	agentos.StepPatch:  {[]string{"diff"}, nil},
	agentos.StepDelete: {[]string{"path"}, nil},
	agentos.StepRename: {[]string{"from", "to"}, nil},
	agentos.StepMkdir:  {[]string{"path"}, nil},
	agentos.StepExec:   {[]string{"argv"}, []string{"timeout", "cwd", "env", "writes"}},
}

func parseStep(n *yaml.Node, num int, own map[*yaml.Node]bool, pending *[]binaryInPlace) (RawStep, error) {
	where := fmt.Sprintf("step %d", num)
	allowed := map[string]bool{"rationale": true, "risk": true, "template": true}
	for k := range stepFields {
		allowed[string(k)] = true
	}
	m, err := mapping(n, where, allowed)
	if err != nil {
		return RawStep{}, err
	}
	s := RawStep{Line: n.Line, Fields: map[string]string{}}
	var body *yaml.Node
	for _, k := range docOrder(n) {
		v := m[k]
		switch k {
		case "rationale":
			if s.Rationale, err = scalar(v, "rationale"); err != nil {
				return s, err
			}
		case "risk":
			if s.Risk, err = scalar(v, "risk"); err != nil {
				return s, err
			}
		case "template":
			if s.Template, s.templateSet, err = templateFlag(v, where); err != nil {
				return s, err
			}
		default:
			if body != nil {
				return s, errAt(n, "%s: has both %q and %q: one action per step", where, s.Kind, k)
			}
			s.Kind, body = agentos.StepKind(k), v
		}
	}
	if body == nil {
		return s, errAt(n, "%s: missing the action: one of write, patch, delete, rename, mkdir, exec", where)
	}
	spec := stepFields[s.Kind]
	al := map[string]bool{}
	for _, k := range append(append([]string{}, spec.required...), spec.optional...) {
		al[k] = true
	}
	where = fmt.Sprintf("step %d (%s)", num, s.Kind)
	fm, err := mapping(body, where, al)
	if err != nil {
		return s, err
	}
	for _, req := range spec.required {
		if _, ok := fm[req]; !ok {
			return s, errAt(body, "%s: missing field %q", where, req)
		}
	}
	for _, k := range docOrder(body) {
		v := fm[k]
		switch k {
		case "argv":
			if s.Argv, err = strList(v, where, "argv"); err != nil {
				return s, err
			}
			if len(s.Argv) == 0 {
				return s, errAt(v, "%s: field \"argv\" is empty", where)
			}
		case "writes":
			if s.Writes, err = strList(v, where, "writes"); err != nil {
				return s, err
			}
		case "env":
			if v.Kind != yaml.MappingNode {
				return s, errAt(v, "%s: field \"env\": wrong type, want a mapping of NAME: value", where)
			}
			for _, c := range v.Content {
				if isBinaryTag(c) {
					return s, errBinaryField(c, where, "env")
				}
			}
			s.Env = map[string]string{}
			if err := v.Decode(&s.Env); err != nil {
				return s, errAt(v, "%s: field \"env\": %v", where, err)
			}
		default:
			if s.Fields[k], err = scalar(v, k); err != nil {
				return s, errAt(v, "%s: field %q: wrong type, want a string", where, k)
			}
			switch {
			case isBinaryTag(v) && (k == "content" || k == "diff"):
				if _, simple := base64Size(v.Value); simple && own[v] {
					// Decoded over its text once the file is checked.
					s.Fields[k] = ""
					*pending = append(*pending, binaryInPlace{s.Fields, k, v})
				} else if s.Fields[k], err = decodeBinary(v, where, k); err != nil {
					return s, err
				}
				if s.binary == nil {
					s.binary = map[string]bool{}
				}
				s.binary[k] = true
			case isBinaryTag(v):
				return s, errBinaryField(v, where, k)
			case k == "diff" && v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
				// A block scalar's default (clip) chomping drops trailing
				// empty lines, which git's diffs can end with.
				s.Fields[k] = completeClippedDiff(s.Fields[k])
			}
		}
	}
	if t, ok := s.Fields["timeout"]; ok {
		if _, err := time.ParseDuration(t); err != nil {
			return s, errAt(fm["timeout"], "%s: field \"timeout\": %q is not a duration (e.g. 30s, 2m)", where, t)
		}
	}
	return s, nil
}

func parseCheck(n *yaml.Node, num int) (RawCheck, error) {
	where := fmt.Sprintf("verify check %d", num)
	m, err := mapping(n, where, map[string]bool{"argv": true, "name": true, "cwd": true, "timeout": true, "template": true})
	if err != nil {
		return RawCheck{}, err
	}
	c := RawCheck{Line: n.Line}
	if v, ok := m["template"]; ok {
		if c.Template, c.templateSet, err = templateFlag(v, where); err != nil {
			return c, err
		}
	}
	an, ok := m["argv"]
	if !ok {
		return c, errAt(n, "%s: missing field \"argv\"", where)
	}
	if c.Argv, err = strList(an, where, "argv"); err != nil {
		return c, err
	}
	if len(c.Argv) == 0 {
		return c, errAt(an, "%s: field \"argv\" is empty", where)
	}
	for k, dst := range map[string]*string{"name": &c.Name, "cwd": &c.Cwd, "timeout": &c.Timeout} {
		if v, ok := m[k]; ok {
			if *dst, err = scalar(v, k); err != nil {
				return c, err
			}
			if isBinaryTag(v) {
				return c, errBinaryField(v, where, k)
			}
		}
	}
	if c.Timeout != "" {
		if _, err := time.ParseDuration(c.Timeout); err != nil {
			return c, errAt(m["timeout"], "%s: field \"timeout\": %q is not a duration (e.g. 30s, 2m)", where, c.Timeout)
		}
	}
	return c, nil
}

func parseParams(n *yaml.Node) ([]Param, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "field \"params\": wrong type, want a list")
	}
	seen := map[string]bool{}
	var out []Param
	for i, pn := range n.Content {
		where := fmt.Sprintf("param %d", i+1)
		if _, err := mapping(pn, where, map[string]bool{"id": true, "question": true, "why": true, "kind": true, "options": true, "default": true, "blocker": true, "durable": true}); err != nil {
			return nil, err
		}
		var p Param
		if err := pn.Decode(&p); err != nil {
			return nil, errAt(pn, "%s: %v", where, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if p.ID == "" {
			return nil, errAt(pn, "%s: missing field \"id\"", where)
		}
		if seen[p.ID] {
			return nil, errAt(pn, "%s: id %q declared twice", where, p.ID)
		}
		seen[p.ID] = true
		if p.Question == "" {
			return nil, errAt(pn, "%s (%s): missing field \"question\"", where, p.ID)
		}
		if p.Kind == "" {
			p.Kind = string(agentos.KindText)
		}
		switch agentos.QuestionKind(p.Kind) {
		case agentos.KindText, agentos.KindBool, agentos.KindPath:
		case agentos.KindChoice:
			if len(p.Options) == 0 {
				return nil, errAt(pn, "%s (%s): kind choice needs options", where, p.ID)
			}
		default:
			return nil, errAt(pn, "%s (%s): kind %q is not one of choice, text, bool, path", where, p.ID, p.Kind)
		}
		out = append(out, p)
	}
	return out, nil
}
