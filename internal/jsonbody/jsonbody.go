// Package jsonbody reads the JSON body of a request the one strict way
// every AgentOS HTTP front door (the API, the web page, the memory
// service) accepts it: one object, no unknown fields, application/json.
package jsonbody

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/agentos/agentos"
)

// Decode reads exactly one JSON value with no unknown fields into v. A
// body over the server's limit comes back as the *http.MaxBytesError, so
// the caller can answer 413; anything else is one EINVALID line.
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return agentos.Errorf(agentos.EINVALID, "Content-Type %q: send application/json", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		if errors.Is(err, io.EOF) {
			return agentos.Errorf(agentos.EINVALID, "request body is empty: send a JSON object")
		}
		return agentos.Errorf(agentos.EINVALID, "request body is not valid JSON for this endpoint: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return agentos.Errorf(agentos.EINVALID, "request body holds more than one JSON value: send one object")
	}
	return nil
}
