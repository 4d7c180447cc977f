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
