// Package canonjson encodes values as canonical JSON and hashes that
// encoding. Every artifact hash in AgentOS (plans, packs, audit events,
// ReviewPacks) goes through Digest, so two processes that see the same value
// always compute the same "sha256:…" string.
//
// The canonical form is: object keys sorted by their UTF-8 bytes, no
// insignificant whitespace, numbers as written by encoding/json, and no HTML
// escaping. It imports only the standard library.
package canonjson

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// Marshal returns the canonical JSON encoding of v.
func Marshal(v any) ([]byte, error) {
	raw, err := encode(v)
	if err != nil {
		return nil, err
	}
	// Round-trip through a generic value: encoding/json sorts map keys, which
	// gives struct fields, maps and raw messages one order.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("canonjson: %w", err)
	}
	return encode(generic)
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonjson: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Sum returns "sha256:<hex>" of b.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Digest returns the canonical encoding of v and its "sha256:<hex>" digest.
func Digest(v any) ([]byte, string, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return b, Sum(b), nil
}

// MustDigest is Digest for values that are known to encode (plain structs).
func MustDigest(v any) string {
	_, d, err := Digest(v)
	if err != nil {
		panic(err)
	}
	return d
}

// WriteString writes the canonical encoding of the string s (quotes
// included) to w a piece at a time, byte for byte what Marshal(s) returns,
// so a large string is hashed without a second copy of it in memory.
// Escaping is per rune, and pieces end before a rune start, so encoding
// piece by piece gives the same bytes as encoding the whole.
func WriteString(w io.Writer, s string) error {
	const piece = 64 << 10
	if _, err := io.WriteString(w, `"`); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for len(s) > 0 {
		n := min(piece, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if n == 0 { // no rune start in reach: invalid bytes, each escaped alone
			n = min(piece, len(s))
		}
		buf.Reset()
		if err := enc.Encode(s[:n]); err != nil {
			return fmt.Errorf("canonjson: %w", err)
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if _, err := w.Write(b[1 : len(b)-1]); err != nil {
			return err
		}
		s = s[n:]
	}
	_, err := io.WriteString(w, `"`)
	return err
}
