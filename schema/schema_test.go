package schema

import (
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestSchemasAreStrict(t *testing.T) {
	names := Names()
	for _, want := range []string{"intent", "plan"} {
		if !strings.Contains(","+strings.Join(names, ",")+",", ","+want+",") {
			t.Fatalf("Names() = %v, want it to contain %q", names, want)
		}
	}
	// Event schemas (event.KIND) are not sent to a model and need not be
	// strict; the artifact schemas all are.
	for _, n := range ArtifactNames() {
		t.Run(n, func(t *testing.T) {
			b, err := Get(n)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckStrict(b); err != nil {
				t.Errorf("schema %s is not strict-mode compatible: %v", n, err)
			}
		})
	}
}

func TestCheckStrictRefuses(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"optional property", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}`, `property "b" must be required`},
		{"open object", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, "additionalProperties must be false"},
		{"nested open object", `{"type":"object","properties":{"a":{"type":"object","properties":{},"required":[],"additionalProperties":true}},"required":["a"],"additionalProperties":false}`, "/properties/a: additionalProperties must be false"},
		{"unsupported keyword", `{"type":"object","properties":{"a":{"type":"string","minLength":1}},"required":["a"],"additionalProperties":false}`, `keyword "minLength"`},
		{"array without items", `{"type":"object","properties":{"a":{"type":"array"}},"required":["a"],"additionalProperties":false}`, "needs an items schema"},
		{"root not object", `{"type":"array","items":{"type":"string"}}`, "root must be"},
		{"dangling ref", `{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"required":["a"],"additionalProperties":false}`, "no such definition"},
		{"required unknown", `{"type":"object","properties":{},"required":["z"],"additionalProperties":false}`, `"z", which is not a property`},
		{"open def", `{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"required":["a"],"additionalProperties":false,"$defs":{"x":{"type":"object","properties":{"q":{"type":"string"}},"required":[]}}}`, "/$defs/x: additionalProperties must be false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStrict([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckStrict = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	ok := `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`
	if err := CheckStrict([]byte(ok)); err != nil {
		t.Errorf("CheckStrict(strict doc) = %v, want nil", err)
	}
}

const goodIntent = `{"goal":"add a --verbose flag","kind":"feature","scope":["cmd/serve.go"],"constraints":[],"acceptance":["go test ./... passes"],"assumptions":[],"risk":"low","open_questions":[{"id":"q1","text":"Short flag too?","why":"naming","kind":"bool","options":[],"default":"false","blocker":false}]}`

func TestValidate(t *testing.T) {
	cases := []struct {
		name, schema, doc, want string
	}{
		{"OK intent", "intent", goodIntent, ""},
		{"OK plan", "plan", `{"goal":"g","steps":[{"kind":"write","path":"a.txt","content":"x\n","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"r","risk":"low"}],"verify":[{"name":"t","argv":["go","test","./..."],"timeout_ms":60000}],"open_questions":[]}`, ""},
		{"missing property", "intent", strings.Replace(goodIntent, `"risk":"low",`, "", 1), `/: missing required property "risk"`},
		{"bad enum", "intent", strings.Replace(goodIntent, `"risk":"low"`, `"risk":"tiny"`, 1), `/risk: "tiny" is not one of`},
		{"unknown property", "intent", strings.Replace(goodIntent, `"goal"`, `"extra":1,"goal"`, 1), `unknown property "extra"`},
		{"wrong type in ref", "intent", strings.Replace(goodIntent, `"blocker":false`, `"blocker":"no"`, 1), `/open_questions/0/blocker: want boolean, got string`},
		{"fraction for integer", "plan", `{"goal":"g","steps":[],"verify":[{"name":"t","argv":["true"],"timeout_ms":1.5}],"open_questions":[]}`, "/verify/0/timeout_ms: want integer"},
		{"not JSON", "plan", `{"goal":`, "not valid JSON"},
		{"trailing data", "plan", `{} {}`, "trailing data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.schema, []byte(tc.doc))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
			if c := agentos.ErrorCode(err); c != agentos.EINVALID {
				t.Errorf("ErrorCode = %s, want %s", c, agentos.EINVALID)
			}
		})
	}
}

func TestGetUnknown(t *testing.T) {
	_, err := Get("nope")
	if agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("ErrorCode = %s, want %s", agentos.ErrorCode(err), agentos.ENOTFOUND)
	}
	if !strings.Contains(err.Error(), "intent") || !strings.Contains(err.Error(), "plan") {
		t.Errorf("error %q should list the available schemas", err)
	}
	if _, err := Get("../schema"); err == nil {
		t.Errorf("Get(../schema) = nil error, want not_found")
	}
}
