package memory

import (
	"strings"
	"unicode"
)

// Terms splits user text into the words FTS5 indexes: runs of letters, digits
// and combining marks, lowercased, deduplicated, in order of first use, at
// most maxTerms. Everything else (quotes, operators, "*", "-", emoji) is a
// separator, so no user text can reach FTS5's query syntax.
func Terms(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !isTokenRune(r) }) {
		f = strings.ToLower(f)
		if len(f) > maxTermBytes || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
		if len(out) == maxTerms {
			break
		}
	}
	return out
}

const (
	maxTerms     = 32
	maxTermBytes = 128
)

// isTokenRune follows FTS5's unicode61 tokenizer: letters, numbers, marks
// and private-use characters are part of words.
func isTokenRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Co, r)
}

// matchExpr builds an FTS5 MATCH expression: each term a quoted string,
// joined by OR so that long task texts still find partial matches; bm25
// ranks items holding more (and rarer) terms first. Terms hold no quotes,
// and doubling them anyway keeps the expression valid whatever Terms becomes.
func matchExpr(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}
