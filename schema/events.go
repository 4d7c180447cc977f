package schema

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// EventPrefix starts the name of an audit event's schema: event.KIND.
const EventPrefix = "event."

// Event schemas are derived, by reflection, from the payload types the root
// package registers (agentos.EventPayloads), so a schema cannot drift from
// the struct its events are written and decoded with: properties from the
// json tags, required = every field without omitempty, additionalProperties
// false. They describe the audit log for its readers and are not sent to a
// model, so they need not be strict-mode Structured Outputs schemas (an
// omitempty field is optional, a nil slice is null); CheckStrict is for the
// artifact schemas only.

// eventNames returns event.KIND for every registered kind, sorted.
func eventNames() []string {
	var out []string
	for _, k := range agentos.EventKinds() {
		out = append(out, EventPrefix+k)
	}
	return out
}

// eventSchema returns the JSON Schema of kind's payload.
func eventSchema(kind string) ([]byte, bool) {
	t, ok := agentos.EventPayloads()[kind]
	if !ok {
		return nil, false
	}
	g := &gen{defs: map[string]any{}}
	root := g.object(t)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = kind
	root["description"] = "the data of an AgentOS audit event of kind " + kind + " (Go type agentos." + t.Name() + ")"
	if len(g.defs) > 0 {
		root["$defs"] = g.defs
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only maps, strings and bools
	}
	return append(b, '\n'), true
}

type gen struct {
	defs map[string]any
}

var timeType = reflect.TypeFor[time.Time]()

// of returns the schema of a value of type t as encoding/json writes it.
func (g *gen) of(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == reflect.TypeFor[json.RawMessage]():
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{g.of(t.Elem()), map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": []any{"array", "null"}, "items": g.of(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		// Named structs go to $defs once (CommandRuleSub nests itself).
		if t.Name() == "" {
			return g.object(t)
		}
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder: stops recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	return map[string]any{} // interface: any JSON value
}

// object is the schema of struct t itself, embedded structs flattened as
// encoding/json does.
func (g *gen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []any{}
	g.fields(t, props, &required)
	sort.Slice(required, func(i, j int) bool { return required[i].(string) < required[j].(string) })
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

func (g *gen) fields(t reflect.Type, props map[string]any, required *[]any) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, required)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
		optional := false
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		if !optional {
			*required = append(*required, name)
		}
	}
}
