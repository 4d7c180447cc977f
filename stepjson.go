package agentos

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// A step's Content and Diff are bytes (a `!!binary` write, a patch of a
// Latin-1 file), but JSON strings are UTF-8: encoding/json would replace every
// invalid byte with U+FFFD, so a stored plan would no longer hold the bytes it
// writes and two different contents could share one plan hash. Bytes that are
// not valid UTF-8 therefore travel base64-encoded in content_base64 /
// diff_base64 instead; valid UTF-8 (NUL included, which JSON escapes) keeps
// the plain field, so existing plans and their hashes are unchanged.

// stepFields is Step without its methods, so the codecs below do not recurse.
type stepFields Step

type stepWire struct {
	stepFields
	ContentBase64 *string `json:"content_base64,omitempty"`
	DiffBase64    *string `json:"diff_base64,omitempty"`
	// A store's form of a large body: its blob's hash (PlanForStore).
	ContentBlob string `json:"content_blob,omitempty"`
	DiffBlob    string `json:"diff_blob,omitempty"`
}

// MarshalJSON encodes the step; see the comment above for the byte fields.
func (s Step) MarshalJSON() ([]byte, error) {
	w := stepWire{stepFields: stepFields(s), ContentBlob: s.contentBlob, DiffBlob: s.diffBlob}
	if !utf8.ValidString(s.Content) {
		b := base64.StdEncoding.EncodeToString([]byte(s.Content))
		w.ContentBase64, w.Content = &b, ""
	}
	if !utf8.ValidString(s.Diff) {
		b := base64.StdEncoding.EncodeToString([]byte(s.Diff))
		w.DiffBase64, w.Diff = &b, ""
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (s *Step) UnmarshalJSON(data []byte) error {
	var w stepWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Step(w.stepFields)
	s.contentBlob, s.diffBlob = w.ContentBlob, w.DiffBlob
	for _, f := range []struct {
		name string
		b64  *string
		dst  *string
	}{{"content", w.ContentBase64, &s.Content}, {"diff", w.DiffBase64, &s.Diff}} {
		if f.b64 == nil {
			continue
		}
		if *f.dst != "" {
			return fmt.Errorf("step has both %s and %s_base64", f.name, f.name)
		}
		b, err := base64.StdEncoding.DecodeString(*f.b64)
		if err != nil {
			return fmt.Errorf("step %s_base64 is not base64: %w", f.name, err)
		}
		*f.dst = string(b)
	}
	return nil
}
