// Package redact removes secrets from text before AgentOS stores it (audit
// events, step output tails, ReviewPacks) and tells the gates whether content
// a plan would write looks like a secret.
//
// The built-in rules cover private keys, AWS, GCP, GitHub, OpenAI,
// Anthropic and Slack credentials, JWTs and `password=` / `secret:` style
// assignments; agentos.yaml's redact.patterns adds more. A match is replaced
// by "[REDACTED:RULE]", so a reader sees what kind of secret was there.
package redact

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/agentos/agentos"
)

// Rule is one secret pattern. When Group is non-zero only that submatch is
// replaced (an assignment keeps its key: `password=[REDACTED:password]`).
type Rule struct {
	ID    string
	Re    *regexp.Regexp
	Group int
	// Hints are cheap lower-case substrings; when set, one must occur for
	// Re to be tried.
	Hints []string
	// Strong, when set, decides whether a redacted value also makes content
	// "look secret" (a literal password does; `password: ${{ secrets.PW }}`
	// does not). nil: every match does.
	Strong func(value string) bool
}

// quotedValue is a literal secret-ish value: at least 8 characters, no
// spaces, not a placeholder or a reference to a variable.
const assignKeys = `(?i)((?:password|passwd|pwd|secret|secret[_-]?key|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|token|private[_-]?key)["']?\s*(?::=|=|:)\s*)`

// A token's prefix is what makes it one, so the rules with a distinctive
// prefix (ghp_, github_pat_, sk-ant-, xox?-, ya29., eyJ….eyJ…) match it
// wherever it is: a word boundary before it let a token glued to a word
// character through (x_ghp_…, %3Dghp_… in a URL, \nghp_… in escaped JSON).
// The prefixes that also occur inside ordinary text or encoded data (AKIA,
// AIza, sk-) still need a left edge, which may also be an underscore, a
// percent-encoded byte or an escaped line break (gluedBy).
const gluedBy = `%[0-9A-Fa-f]{2}|\\[nrt]`

// builtin is the ordered list of built-in rules; more specific rules come
// first so that a GitHub token is named as such, not as a "token=" value.
// Compiled on first use: every agentos process links this package, and
// most (the sandbox helper, `agentos --version`) never redact anything.
var builtin = sync.OnceValue(func() []Rule {
	return []Rule{
		{ID: "private-key", Hints: []string{"private key"}, Re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`)},
		// A key header without its end (a truncated output tail) is still a key.
		{ID: "private-key", Hints: []string{"private key"}, Re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s\\n]*`)},
		{ID: "aws-access-key-id", Hints: []string{"akia", "asia", "abia", "acca"}, Re: regexp.MustCompile(`(?:^|[^A-Z0-9]|` + gluedBy + `)((?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})`), Group: 1},
		{ID: "aws-secret-access-key", Hints: []string{"aws"}, Re: regexp.MustCompile(`(?i)(aws_?secret_?(?:access_?)?key["']?\s*(?::=|=|:)\s*["']?)([A-Za-z0-9/+=]{40})`), Group: 2},
		{ID: "gcp-api-key", Hints: []string{"aiza"}, Re: regexp.MustCompile(`(?:^|[^A-Za-z0-9+/]|` + gluedBy + `)(AIza[0-9A-Za-z_\-]{35})`), Group: 1},
		{ID: "gcp-oauth-token", Hints: []string{"ya29."}, Re: regexp.MustCompile(`ya29\.[0-9A-Za-z_\-]{20,}`)},
		{ID: "github-token", Hints: []string{"gh"}, Re: regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}`)},
		{ID: "anthropic-key", Hints: []string{"sk-ant-"}, Re: regexp.MustCompile(`sk-ant-[A-Za-z0-9_\-]{20,}`)},
		{ID: "openai-key", Hints: []string{"sk-"}, Re: regexp.MustCompile(`(?:^|[^A-Za-z0-9]|` + gluedBy + `)(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})`), Group: 1},
		{ID: "slack-token", Hints: []string{"xox"}, Re: regexp.MustCompile(`xox[abposr]-[A-Za-z0-9\-]{10,}`)},
		{ID: "slack-webhook", Hints: []string{"hooks.slack.com"}, Re: regexp.MustCompile(`https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/\-]+`)},
		{ID: "jwt", Hints: []string{"eyj"}, Re: regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}`)},
		{ID: "url-credentials", Hints: []string{"://"}, Re: regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@"']+:)([^/\s@"']{3,})(@)`), Group: 2},
		// Assignments: every value is redacted; only a literal that is not a
		// reference or placeholder counts as a secret for the gates.
		{ID: "password", Hints: []string{"pass", "pwd", "secret", "key", "token"}, Re: regexp.MustCompile(assignKeys + `("[^"\n]*"|'[^'\n]*'|[^\s"',;]+)`), Group: 2, Strong: literalSecret},
	}
})

// Redactor replaces secrets in text. The zero value is not usable; use New or
// Default.
type Redactor struct {
	extra []Rule
	all   func() []Rule
}

func newRedactor(extra []Rule) *Redactor {
	return &Redactor{extra: extra, all: sync.OnceValue(func() []Rule {
		return append(slices.Clip(builtin()), extra...)
	})}
}

var def = newRedactor(nil)

// Default returns the redactor with the built-in rules only.
func Default() *Redactor { return def }

// New returns a redactor with the built-in rules plus extra RE2 patterns
// (agentos.yaml redact.patterns). A pattern with a capture group redacts only
// the first group.
func New(extra []string) (*Redactor, error) {
	var rules []Rule
	for i, p := range extra {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "redact.patterns[%d]: %v: fix the regular expression in agentos.yaml", i, err)
		}
		if re.MatchString("") {
			return nil, agentos.Errorf(agentos.EINVALID, "redact.patterns[%d]: %q matches the empty string; make it match a secret", i, p)
		}
		g := 0
		if re.NumSubexp() > 0 {
			g = 1
		}
		rules = append(rules, Rule{ID: "custom", Re: re, Group: g})
	}
	return newRedactor(rules), nil
}

// String returns s with every secret replaced by [REDACTED:RULE].
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	for _, rule := range r.all() {
		if rule.Hints != nil && !rule.hinted(s) {
			continue
		}
		s = replace(rule, s)
	}
	return s
}

func replace(rule Rule, s string) string {
	mark := "[REDACTED:" + rule.ID + "]"
	// Not ReplaceAllLiteralString: it copies s even when nothing matches.
	idx := rule.Re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		lo, hi := m[2*rule.Group], m[2*rule.Group+1]
		if lo < 0 || rule.Group != 0 && strings.HasPrefix(s[lo:], "[REDACTED:") {
			continue
		}
		b.WriteString(s[last:lo])
		b.WriteString(mark)
		last = hi
	}
	b.WriteString(s[last:])
	return b.String()
}

// Bytes is String for a byte slice.
func (r *Redactor) Bytes(b []byte) []byte {
	s := string(b)
	out := r.String(s)
	if out == s {
		return b
	}
	return []byte(out)
}

// Strings redacts each element of ss in place and returns ss.
func (r *Redactor) Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = r.String(s)
	}
	return ss
}

// JSON redacts every string (keys included) inside a JSON document and
// returns it re-encoded; a document that does not parse is redacted as text
// and quoted, so the result is always valid JSON.
func (r *Redactor) JSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		b, _ := json.Marshal(r.String(string(raw)))
		return b
	}
	v, changed := r.value(v)
	if !changed {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(r.String(string(raw)))
	}
	return b
}

// Value redacts a decoded JSON value (maps, slices, strings) and returns it.
func (r *Redactor) Value(v any) any {
	out, _ := r.value(v)
	return out
}

func (r *Redactor) value(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		y := r.String(x)
		return y, y != x
	case []any:
		changed := false
		for i, e := range x {
			var c bool
			x[i], c = r.value(e)
			changed = changed || c
		}
		return x, changed
	case map[string]any:
		changed := false
		for k, e := range x {
			ne, c := r.value(e)
			nk := r.String(k)
			if nk != k {
				delete(x, k)
				c = true
			}
			x[nk] = ne
			changed = changed || c
		}
		return x, changed
	}
	return v, false
}

// Find returns the ids of the rules whose strong patterns match content, in
// rule order without duplicates; nil when nothing looks secret.
func (r *Redactor) Find(content string) []string {
	var ids []string
	for _, rule := range r.all() {
		if rule.Hints != nil && !rule.hinted(content) {
			continue
		}
		if rule.matchesStrong(content) {
			if len(ids) == 0 || ids[len(ids)-1] != rule.ID {
				ids = append(ids, rule.ID)
			}
		}
	}
	return ids
}

// Match is one secret a strong rule found: the rule and the matched value.
type Match struct {
	Rule  string
	Value string
}

// Matches returns every secret the strong rules find in content, in rule
// order: what Find names, with the values, so that a scan can tell a secret
// a change adds from one that was already there.
//
// Large content (a commit's files) is scanned only around the hints: a rule
// with hints runs on the lines that hold one (a private key from its line
// to the end), since Go's regexp costs per byte scanned.
func (r *Redactor) Matches(content string) []Match {
	var out []Match
	for _, rule := range r.all() {
		segs := []string{content}
		if rule.Hints != nil {
			if segs = rule.segments(content); segs == nil {
				continue
			}
		}
		for _, seg := range segs {
			for _, m := range rule.Re.FindAllStringSubmatch(seg, -1) {
				v := m[rule.Group]
				if rule.Strong == nil || rule.Strong(v) {
					out = append(out, Match{Rule: rule.ID, Value: v})
				}
			}
		}
	}
	return out
}

// segmentsScanned, set by a test, is told how many bytes each hint's
// search read.
var segmentsScanned func(int)

// segments are the parts of content around the rule's hints: whole lines,
// merged where they touch; a rule that spans lines (a key block) runs from
// its first hinted line to the end.
func (rule Rule) segments(content string) []string {
	type span struct{ lo, hi int }
	var spans []span
	for _, h := range rule.Hints {
		// One finder for the whole content: a search that started again
		// at each line would look for the case of the first byte that is
		// missing from the rest of the content once per hinted line (a
		// 64 MiB file with "gh" on each of its million lines and no "G"
		// took an hour to scan).
		f := newFoldFinder(content, h)
		first := len(spans) // this hint's spans come in order: merged as found
		for off := 0; ; {
			i := f.index(off)
			if i < 0 {
				break
			}
			lo := strings.LastIndexByte(content[:i], '\n') + 1
			hi := len(content)
			if rule.ID != "private-key" {
				if j := strings.IndexByte(content[i:], '\n'); j >= 0 {
					hi = i + j
				}
			}
			// Merged with the last one where they touch, as below: a hint
			// on each of a million lines is one span, not a million.
			if n := len(spans); n > first && lo <= spans[n-1].hi+1 {
				spans[n-1].hi = max(spans[n-1].hi, hi)
			} else {
				spans = append(spans, span{lo, hi})
			}
			off = max(hi, i+len(h))
			if off >= len(content) {
				break
			}
		}
		if segmentsScanned != nil {
			segmentsScanned(f.scanned)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo - b.lo })
	var out []string
	cur := spans[0]
	for _, s := range spans[1:] {
		if s.lo <= cur.hi+1 {
			cur.hi = max(cur.hi, s.hi)
			continue
		}
		out = append(out, content[cur.lo:cur.hi])
		cur = s
	}
	return append(out, content[cur.lo:cur.hi])
}

// indexFold is the index of the first occurrence of hint (lower-case
// ASCII) in s with ASCII letters of s matched in either case, or -1. It
// reads s in place: a lower-cased copy of a large body (a 64 MiB file)
// would double what a scan holds.
func indexFold(s, hint string) int {
	return newFoldFinder(s, hint).index(0)
}

// foldFinder finds hint in s again and again, from later and later
// offsets, reading s once in all: it keeps the next occurrence of each case
// of the hint's first byte, each searched again only once passed (a run of
// one candidate byte, or a case that never occurs, costs one pass).
type foldFinder struct {
	s, hint string
	c0, u0  byte
	lo, up  int // the next c0 and u0 at or after where each was last searched from; -1 before the first search
	scanned int // bytes read by the searches (for the tests)
}

func newFoldFinder(s, hint string) *foldFinder {
	f := &foldFinder{s: s, hint: hint, lo: -1, up: -1}
	if hint != "" {
		f.c0, f.u0 = hint[0], hint[0]
		if 'a' <= f.c0 && f.c0 <= 'z' {
			f.u0 = f.c0 - 'a' + 'A'
		}
	}
	return f
}

// next is the first c at or after from, or len(s).
func (f *foldFinder) next(c byte, from int) int {
	j := strings.IndexByte(f.s[from:], c)
	if j < 0 {
		f.scanned += len(f.s) - from
		return len(f.s)
	}
	f.scanned += j + 1
	return from + j
}

// index is the first occurrence of the hint at or after from, or -1; from
// never goes back between calls.
func (f *foldFinder) index(from int) int {
	if f.hint == "" {
		return from
	}
	if f.lo < from {
		f.lo = f.next(f.c0, from)
	}
	if f.u0 == f.c0 {
		f.up = len(f.s)
	} else if f.up < from {
		f.up = f.next(f.u0, from)
	}
	for {
		i := min(f.lo, f.up)
		if i+len(f.hint) > len(f.s) {
			return -1
		}
		if equalFoldASCII(f.s[i:i+len(f.hint)], f.hint) {
			return i
		}
		if i == f.lo {
			f.lo = f.next(f.c0, i+1)
		} else {
			f.up = f.next(f.u0, i+1)
		}
	}
}

// equalFoldASCII reports whether s equals lower (lower-case ASCII) with
// ASCII letters of s in either case.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// LooksSecret reports whether content contains something a strong rule
// recognises as a secret (a key, a token, a literal password).
func (r *Redactor) LooksSecret(content string) bool { return len(r.Find(content)) > 0 }

// LooksSecret reports whether content looks secret under the built-in rules.
func LooksSecret(content string) bool { return def.LooksSecret(content) }

// String redacts s with the built-in rules.
func String(s string) string { return def.String(s) }

func (rule Rule) matchesStrong(s string) bool {
	if rule.Strong == nil {
		return rule.Re.MatchString(s)
	}
	for _, m := range rule.Re.FindAllStringSubmatch(s, -1) {
		if rule.Strong(m[rule.Group]) {
			return true
		}
	}
	return false
}

var filePath = lazyRegexp(`^(?:/|~/|\./|\.\./)[A-Za-z0-9_./~+-]*$`)

var identPath = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:\(.*)?$`)

// literalSecret reports whether an assigned value is a literal secret: at
// least 8 characters, not a reference (${…}, {{…}}, %…%, <…>, $VAR), not a
// placeholder, and, when unquoted, not an identifier or call (cfg.Password,
// os.Getenv(…)).
func literalSecret(v string) bool {
	quoted := len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
	if quoted {
		v = v[1 : len(v)-1]
	}
	if len(v) < 8 || strings.ContainsAny(v, " \t$%{}<>") {
		return false
	}
	if !quoted && identPath().MatchString(v) {
		return false
	}
	if filePath().MatchString(v) {
		return false // PWD=/home/ann/src, key_file: /etc/ssl/x.pem: a path, not a secret
	}
	switch strings.ToLower(v) {
	case "changeme", "password", "xxxxxxxx", "redacted", "********", "notasecret", "placeholder":
		return false
	}
	return !strings.HasPrefix(v, "[REDACTED:")
}

// hinted reports whether one of the rule's hints occurs in s, in any case.
// The Kelvin sign lower-cases to "k" (strings.ToLower) and (?i) matches it
// as k: text that holds one is lower-cased whole, so such a "Key" is still
// hinted.
func (rule Rule) hinted(s string) bool {
	if strings.Contains(s, "\u212a") {
		s = strings.ToLower(s)
	}
	for _, h := range rule.Hints {
		if indexFold(s, h) >= 0 {
			return true
		}
	}
	return false
}

// lazyRegexp compiles expr on first use.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
