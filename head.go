package agentos

import (
	"fmt"
	"unicode/utf8"
)

// MaxRecordedText bounds a text from outside that an audit event keeps as
// evidence rather than as data (a model's unusable answer, an agent's tool
// call): the head says what it was, its size and digest stand for the rest.
const MaxRecordedText = 16 << 10

// Head is s cut at n bytes (on a rune boundary) with the whole text's size
// and SHA-256, or s itself when it fits. Cut only what is redacted already:
// a secret cut in two may no longer be recognised.
func Head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s… (%d bytes, %s)", cut, len(s), BlobHash(s))
}
