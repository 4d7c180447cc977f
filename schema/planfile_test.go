package schema_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"go.yaml.in/yaml/v3"

	"github.com/agentos/agentos/planfile"
	"github.com/agentos/agentos/schema"
)

// yamlToJSON converts a YAML plan as an editor's YAML language server does
// before it applies a JSON Schema.
func yamlToJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	return j
}

// Every plan file the end-to-end suite feeds the binary and the parser
// accepts also validates against `agentos schema planfile`: the schema
// never refuses a plan AgentOS would take.
func TestPlanfileSchemaAcceptsEveryValidPlan(t *testing.T) {
	scripts, err := filepath.Glob("../cmd/agentos/testdata/script/*.txtar")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no testscripts found: %v", err)
	}
	checked := 0
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if !strings.HasSuffix(f.Name, ".yaml") || !strings.Contains(string(f.Data), "steps:") {
				continue
			}
			if _, err := planfile.Parse(f.Data); err != nil {
				continue // a plan the suite feeds in to be refused
			}
			if err := schema.Validate("planfile", yamlToJSON(t, f.Data)); err != nil {
				t.Errorf("%s %s: the parser accepts it, the schema refuses it: %v", filepath.Base(s), f.Name, err)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d plans checked; the suite has more", checked)
	}
}

func TestPlanfileSchemaRefusesWhatTheParserRefuses(t *testing.T) {
	for name, plan := range map[string]string{
		"unknown top-level key": "version: 1\ngoal: g\nsteps: [{write: {path: a, content: b}}]\nverfy: []\n",
		"missing goal":          "version: 1\nsteps: [{write: {path: a, content: b}}]\n",
		"wrong version":         "version: 2\ngoal: g\nsteps: [{write: {path: a, content: b}}]\n",
		"two actions":           "version: 1\ngoal: g\nsteps: [{write: {path: a, content: b}, delete: {path: a}}]\n",
		"unknown action":        "version: 1\ngoal: g\nsteps: [{copy: {from: a, to: b}}]\n",
		"exec argv string":      "version: 1\ngoal: g\nsteps: [{exec: {argv: make test}}]\n",
		"write without content": "version: 1\ngoal: g\nsteps: [{write: {path: a}}]\n",
		"check unknown key":     "version: 1\ngoal: g\nsteps: [{write: {path: a, content: b}}]\nverify: [{argv: [true], retries: 3}]\n",
		"bad mode":              "version: 1\ngoal: g\nmode: yolo\nsteps: [{write: {path: a, content: b}}]\n",
	} {
		if err := schema.Validate("planfile", yamlToJSON(t, []byte(plan))); err == nil {
			t.Errorf("%s: the schema accepts %q", name, plan)
		}
	}
}
