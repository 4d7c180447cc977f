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
	// Back to the start of the rune the cut falls in (at most UTFMax-1
	// bytes): text that is not UTF-8 elsewhere is kept as it is.
	for back := 0; back < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); back++ {
		n--
	}
	return fmt.Sprintf("%s… (%d bytes, %s)", s[:n], len(s), BlobHash(s))
}
