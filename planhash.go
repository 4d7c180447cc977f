package agentos

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/agentos/agentos/canonjson"
)

// StreamMin is the size from which a step's content or diff is handled as a
// stream: hashed a piece at a time and kept by a store as a blob, once,
// referenced from the plan (docs/limits.md).
const StreamMin = 1 << 20

// streamed is one large step body cut out of a plan's canonical encoding.
type streamed struct {
	token string // `"content":"<placeholder>"` as the small encoding holds it
	key   string // the field the real body is encoded in
	value string
	b64   bool
	at    int
}

// digest is ComputeHash: canonjson.Digest of the plan, byte for byte, but
// every body of StreamMin or more is replaced by a placeholder, the small
// plan is encoded, and the real body is written into the hash where its
// placeholder stood. The hash is the same as over the whole encoding (old
// stored plans verify unchanged); only the copies are gone.
func (p Plan) digest() (string, error) {
	large := slices.ContainsFunc(p.Steps, func(s Step) bool { return len(s.Content) >= StreamMin || len(s.Diff) >= StreamMin })
	if !large {
		_, d, err := canonjson.Digest(p)
		return d, err
	}
	p.Steps = slices.Clone(p.Steps) // the caller's steps stay as they are
	nonce := rand.Text()
	var subs []streamed
	for i := range p.Steps {
		for _, f := range []struct {
			name string
			v    *string
		}{{"content", &p.Steps[i].Content}, {"diff", &p.Steps[i].Diff}} {
			if len(*f.v) < StreamMin {
				continue
			}
			ph := fmt.Sprintf("agentos-stream-%s-%d", nonce, len(subs))
			s := streamed{token: `"` + f.name + `":"` + ph + `"`, key: f.name, value: *f.v}
			if !utf8.ValidString(*f.v) {
				// Step.MarshalJSON puts invalid UTF-8 in <name>_base64,
				// which sorts at the same place among the step's keys.
				s.key, s.b64 = f.name+"_base64", true
			}
			*f.v = ph
			subs = append(subs, s)
		}
	}
	small, err := canonjson.Marshal(p)
	if err != nil {
		return "", err
	}
	for i := range subs {
		subs[i].at = bytes.Index(small, []byte(subs[i].token))
		if subs[i].at < 0 || bytes.Count(small, []byte(subs[i].token)) != 1 {
			return "", fmt.Errorf("plan hash: placeholder %d not found once", i)
		}
	}
	slices.SortFunc(subs, func(a, b streamed) int { return a.at - b.at })
	h := sha256.New()
	pos := 0
	for _, s := range subs {
		h.Write(small[pos:s.at])
		if err := writeBody(h, s); err != nil {
			return "", err
		}
		pos = s.at + len(s.token)
	}
	h.Write(small[pos:])
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func writeBody(h hash.Hash, s streamed) error {
	io.WriteString(h, `"`+s.key+`":`)
	if !s.b64 {
		return canonjson.WriteString(h, s.value)
	}
	io.WriteString(h, `"`)
	enc := base64.NewEncoder(base64.StdEncoding, h)
	for v := s.value; len(v) > 0; {
		n := min(len(v), 48<<10)
		enc.Write([]byte(v[:n])) // a hash does not fail
		v = v[n:]
	}
	enc.Close()
	io.WriteString(h, `"`)
	return nil
}
