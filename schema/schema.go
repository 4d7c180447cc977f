// Package schema holds the JSON Schemas of AgentOS's documents, embedded in
// the binary (`agentos schema NAME` prints them), and checks documents against
// them on receipt.
//
// Every artifact schema is a *.json file in this directory; its name is the
// file name without the extension, so adding a schema is adding a file. The
// schema of each audit event kind, event.KIND, is derived from its payload
// type (events.go). Every artifact schema must be usable with OpenAI Structured Outputs in strict mode (CheckStrict):
// every property required, additionalProperties false on every object, and
// only the keywords strict mode supports. TestSchemasAreStrict enforces it.
package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/agentos/agentos"
)

//go:embed *.json
var files embed.FS

// inputs are the schemas of files people write (input/*.json): the plan
// file. They are for editors and `--check`, not for a model, so they need
// not be strict-mode (optional fields stay optional).
//
//go:embed input/*.json
var inputs embed.FS

// Names returns the names of the built-in schemas, sorted: the artifact
// schemas, the input schemas and event.KIND for every audit event kind.
func Names() []string {
	out := append(ArtifactNames(), eventNames()...)
	out = append(out, InputNames()...)
	sort.Strings(out)
	return out
}

// InputNames returns the names of the schemas of files people write.
func InputNames() []string {
	entries, _ := inputs.ReadDir("input")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ArtifactNames returns the names of the artifact schemas (the *.json files,
// all strict-mode), sorted.
func ArtifactNames() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Get returns the schema called name, or a not_found error naming the
// schemas there are.
func Get(name string) ([]byte, error) {
	if kind, ok := strings.CutPrefix(name, EventPrefix); ok {
		if b, ok := eventSchema(kind); ok {
			return b, nil
		}
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no audit event kind %q: choose one of %s", kind, strings.Join(eventNames(), ", "))
	}
	if slices.Contains(InputNames(), name) {
		return inputs.ReadFile("input/" + name + ".json")
	}
	b, err := files.ReadFile(path.Clean(name) + ".json")
	if err != nil || strings.ContainsAny(name, "/\\") {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no schema called %q: choose one of %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Map returns the schema called name decoded, ready to send as a
// Structured Outputs response format.
func Map(name string) (map[string]any, error) {
	b, err := Get(name)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "schema %s is not valid JSON: %v", name, err)
	}
	return m, nil
}

// Keywords strict mode accepts (OpenAI Structured Outputs, "supported
// schemas"), restricted further to what local servers (llama.cpp grammars,
// vLLM, Ollama) also honour.
var strictKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "enum": true, "const": true, "anyOf": true, "$ref": true, "$defs": true,
	"description": true, "title": true,
}

// CheckStrict reports every place where doc breaks strict mode's rules, as
// one error listing them all ("<json pointer>: problem; …"), or nil.
func CheckStrict(doc []byte) error {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	var probs []string
	if root["type"] != "object" {
		probs = append(probs, `/: the root must be "type": "object"`)
	}
	if _, ok := root["anyOf"]; ok {
		probs = append(probs, "/: the root must not be anyOf")
	}
	var walk func(ptr string, n map[string]any)
	walk = func(ptr string, n map[string]any) {
		for k := range n {
			if !strictKeywords[k] {
				probs = append(probs, fmt.Sprintf("%s: keyword %q is not supported in strict mode", ptr, k))
			}
		}
		if ref, ok := n["$ref"].(string); ok {
			if _, err := resolveRef(root, ref); err != nil {
				probs = append(probs, fmt.Sprintf("%s: %v", ptr, err))
			}
		}
		if _, hasRef := n["$ref"]; !hasRef && n["type"] == nil && n["anyOf"] == nil && n["enum"] == nil && n["const"] == nil {
			probs = append(probs, ptr+": no type")
		}
		if isType(n, "object") {
			props, _ := n["properties"].(map[string]any)
			if ap, ok := n["additionalProperties"].(bool); !ok || ap {
				probs = append(probs, ptr+": additionalProperties must be false")
			}
			req := map[string]bool{}
			if rs, ok := n["required"].([]any); ok {
				for _, r := range rs {
					if s, ok := r.(string); ok {
						req[s] = true
						if _, ok := props[s]; !ok {
							probs = append(probs, fmt.Sprintf("%s: required names %q, which is not a property", ptr, s))
						}
					}
				}
			}
			for _, k := range sortedKeys(props) {
				if !req[k] {
					probs = append(probs, fmt.Sprintf("%s: property %q must be required (strict mode: every property is required)", ptr, k))
				}
				if sub, ok := props[k].(map[string]any); ok {
					walk(ptr+"/properties/"+k, sub)
				} else {
					probs = append(probs, fmt.Sprintf("%s/properties/%s: not a schema object", ptr, k))
				}
			}
		}
		if items, ok := n["items"].(map[string]any); ok {
			walk(ptr+"/items", items)
		} else if isType(n, "array") {
			probs = append(probs, ptr+": an array needs an items schema")
		}
		if alts, ok := n["anyOf"].([]any); ok {
			for i, a := range alts {
				if sub, ok := a.(map[string]any); ok {
					walk(fmt.Sprintf("%s/anyOf/%d", ptr, i), sub)
				}
			}
		}
		if defs, ok := n["$defs"].(map[string]any); ok {
			if ptr != "" {
				probs = append(probs, ptr+": $defs belong at the root")
			}
			for _, k := range sortedKeys(defs) {
				if sub, ok := defs[k].(map[string]any); ok {
					walk(ptr+"/$defs/"+k, sub)
				}
			}
		}
	}
	walk("", root)
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

// Validate checks doc (JSON) against the schema called name and reports every
// problem found, each with its JSON pointer, as one invalid error.
func Validate(name string, doc []byte) error {
	m, err := Map(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return agentos.Errorf(agentos.EINVALID, "not valid JSON: %v", err)
	}
	if dec.More() {
		return agentos.Errorf(agentos.EINVALID, "not valid JSON: trailing data after the document")
	}
	var probs []string
	validate(m, m, "", v, &probs)
	if len(probs) > 0 {
		if len(probs) > 20 {
			probs = append(probs[:20], fmt.Sprintf("and %d more", len(probs)-20))
		}
		return agentos.Errorf(agentos.EINVALID, "does not match schema %s: %s", name, strings.Join(probs, "; "))
	}
	return nil
}

func validate(root, s map[string]any, ptr string, v any, probs *[]string) {
	at := ptr
	if at == "" {
		at = "/"
	}
	if ref, ok := s["$ref"].(string); ok {
		t, err := resolveRef(root, ref)
		if err != nil {
			*probs = append(*probs, fmt.Sprintf("%s: %v", at, err))
			return
		}
		s = t
	}
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			var sub []string
			if as, ok := a.(map[string]any); ok {
				validate(root, as, ptr, v, &sub)
				if len(sub) == 0 {
					return
				}
			}
		}
		*probs = append(*probs, at+": matches none of the allowed forms")
		return
	}
	if t, ok := s["type"]; ok && !typeMatches(t, v) {
		*probs = append(*probs, fmt.Sprintf("%s: want %v, got %s", at, t, jsonType(v)))
		return
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		*probs = append(*probs, fmt.Sprintf("%s: %s is not one of %s", at, short(v), short(e)))
	}
	if c, ok := s["const"]; ok && !equal(c, v) {
		*probs = append(*probs, fmt.Sprintf("%s: must be %s", at, short(c)))
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if rs, ok := s["required"].([]any); ok {
			for _, r := range rs {
				if name, _ := r.(string); name != "" {
					if _, ok := x[name]; !ok {
						*probs = append(*probs, fmt.Sprintf("%s: missing required property %q", at, name))
					}
				}
			}
		}
		for _, k := range sortedKeys(x) {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if ap, ok := s["additionalProperties"].(bool); ok && !ap {
					*probs = append(*probs, fmt.Sprintf("%s: unknown property %q", at, k))
				}
				continue
			}
			validate(root, sub, ptr+"/"+k, x[k], probs)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				validate(root, items, fmt.Sprintf("%s/%d", ptr, i), e, probs)
			}
		}
	}
}

func resolveRef(root map[string]any, ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only #/$defs/NAME references are supported", ref)
	}
	defs, _ := root["$defs"].(map[string]any)
	t, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return t, nil
}

func isType(n map[string]any, want string) bool {
	switch t := n["type"].(type) {
	case string:
		return t == want
	case []any:
		return slices.Contains(t, any(want))
	}
	return false
}

func typeMatches(t any, v any) bool {
	switch t := t.(type) {
	case string:
		return typeIs(t, v)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && typeIs(s, v) {
				return true
			}
		}
	}
	return false
}

func typeIs(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func equal(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
