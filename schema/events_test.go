package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// Every registered event kind has a schema, listed by Names, and a payload
// as the pipeline writes it validates against it.
func TestEventSchemas(t *testing.T) {
	names := Names()
	for _, kind := range agentos.EventKinds() {
		if !slices.Contains(names, EventPrefix+kind) {
			t.Errorf("Names() lacks %s%s", EventPrefix, kind)
		}
		b, err := Get(EventPrefix + kind)
		if err != nil {
			t.Fatalf("Get(%s%s): %v", EventPrefix, kind, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["type"] != "object" || m["additionalProperties"] != false {
			t.Errorf("schema of %s is not a closed object schema: %s", kind, b)
		}
		// The zero payload (nil slices, nil pointers) as encoding/json writes it.
		zero, _ := json.Marshal(reflect.New(agentos.EventPayloads()[kind]).Interface())
		if err := Validate(EventPrefix+kind, zero); err != nil {
			t.Errorf("the zero %s payload does not match its schema: %v\n%s", kind, err, zero)
		}
	}
	full := []struct {
		kind string
		v    any
	}{
		{agentos.EventTransition, agentos.TransitionEvent{From: agentos.StateQueued, To: agentos.StateApplying, Reason: "r",
			TransitionDetail: agentos.TransitionDetail{Run: "r1", Binding: &agentos.ApprovalBinding{Base: "b"}, Requirements: []agentos.ApprovalRequirement{{RuleID: "x", Approvals: 2}}}}},
		{agentos.EventCommandRule, agentos.CommandRuleEvent{Rule: "r", Decision: "allow", Argv: []string{"/bin/ls"}, Exe: "/bin/ls",
			Commands: []agentos.CommandRuleSub{{RuleID: "a", Effect: "allow", Argv: []string{"ls"}, Commands: []agentos.CommandRuleSub{{RuleID: "b"}}}}}},
		{agentos.EventSchedulerDispatch, agentos.SchedulerDispatchEvent{SchedulerDecision: agentos.SchedulerDecision{Task: "t1", Action: "dispatch", Matched: []string{}}, Lease: "lk_1", Worker: "w"}},
		{agentos.EventLockLost, agentos.LockLostEvent{Lease: agentos.Lease{ID: "lk_1", Keys: []string{"task:t1"}, Expires: time.Now()}, Error: "gone"}},
	}
	for _, c := range full {
		b, _ := json.Marshal(c.v)
		if err := Validate(EventPrefix+c.kind, b); err != nil {
			t.Errorf("%s payload does not match its schema: %v\n%s", c.kind, err, b)
		}
	}
	// Required fields and closed objects are enforced.
	for doc, want := range map[string]string{
		`{"from":"queued"}`:                          `missing required property "to"`,
		`{"from":"queued","to":"x","why":1}`:         `unknown property "why"`,
		`{"from":"queued","to":"x","expired":"yes"}`: "/expired: want boolean",
	} {
		if err := Validate(EventPrefix+agentos.EventTransition, []byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%s) = %v, want %q", doc, err, want)
		}
	}
	if _, err := Get(EventPrefix + "no.such.kind"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Errorf("Get(event.no.such.kind) = %v, want not_found", err)
	}
}

// Every field of every payload names its JSON key: the schema and the audit
// log's keys are chosen, not derived from Go field names.
func TestEventPayloadFieldsAreTagged(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var check func(kind string, t reflect.Type)
	check = func(kind string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			if f.Anonymous && f.Tag.Get("json") == "" {
				check(kind, f.Type)
				continue
			}
			if f.IsExported() && f.Tag.Get("json") == "" {
				t.Errorf("%s: field %s.%s has no json tag", kind, typ.Name(), f.Name)
			}
			check(kind, f.Type)
		}
	}
	for kind, typ := range agentos.EventPayloads() {
		check(kind, typ)
	}
}
