package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Signature headers, as the Standard Webhooks specification names them
// (https://www.standardwebhooks.com): the message id (stable across retries:
// receivers de-duplicate by it), the attempt's Unix time in seconds, and
// space-separated "v1,<base64 HMAC-SHA256>" signatures.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret: the key is the base64 text
// after it.
const secretPrefix = "whsec_"

// minSecret is the shortest key accepted: shorter ones are guessable.
const minSecret = 16

// ParseSecret turns a secret as stored in the environment variable or file
// into the HMAC key: "whsec_<base64>" is the base64-decoded bytes (the
// Standard Webhooks form), anything else its own bytes. Surrounding
// whitespace (a file's final newline) is not part of it.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	if b64, ok := strings.CutPrefix(s, secretPrefix); ok {
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("the secret starts with %s but the rest is not base64", secretPrefix)
		}
		key = k
	} else {
		key = []byte(s)
	}
	if len(key) < minSecret {
		return nil, fmt.Errorf("the secret is %d bytes; use at least %d (e.g. whsec_ and 32 random bytes in base64: `echo whsec_$(head -c 32 /dev/urandom | base64)`)", len(key), minSecret)
	}
	return key, nil
}

// Sign is the signature header value of one message: HMAC-SHA256 with key
// over "ID.TIMESTAMP.BODY", base64, prefixed "v1,".
func Sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a received message as a receiver would: the timestamp
// within tolerance of now, and one of the v1 signatures matching (compared
// in constant time). A Go receiver can call it; docs/webhooks.md spells the
// same steps out for any language.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return agentos.Errorf(agentos.EDENIED, "webhook: missing %s, %s or %s header", HeaderID, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return agentos.Errorf(agentos.EDENIED, "webhook: %s is not Unix seconds", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return agentos.Errorf(agentos.EDENIED, "webhook: timestamp is %s away from now (tolerance %s): a replay or a wrong clock", d.Round(time.Second), tolerance)
	}
	want := Sign(key, id, ts, body)
	for s := range strings.FieldsSeq(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return agentos.Errorf(agentos.EDENIED, "webhook: no signature matches")
}
