package memory

import (
	"strings"
	"unicode"
)

// Terms splits user text into the words the full-text indexes hold: runs of
// letters, digits and combining marks, lowercased, deduplicated, in order of
// first use, at most maxTerms. Everything else (quotes, operators, "*", "-",
// emoji) is a separator, so no user text can reach an index's query syntax
// (FTS5's or PostgreSQL's tsquery).
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
