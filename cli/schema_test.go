package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemaCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"schema", "plan"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("agentos schema plan: exit %d, stderr %s", code, errOut.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["type"] != "object" {
		t.Fatalf("agentos schema plan printed %q (err %v), want a JSON Schema object", out.String(), err)
	}
	out.Reset()
	errOut.Reset()
	code := Main([]string{"schema", "nope"}, strings.NewReader(""), &out, &errOut)
	if code != ExitUsage || !strings.Contains(errOut.String(), "intent") {
		t.Errorf("agentos schema nope: exit %d, stderr %q; want exit %d listing the schemas", code, errOut.String(), ExitUsage)
	}
	out.Reset()
	if code := Main([]string{"schema"}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "intent\n") {
		t.Errorf("agentos schema: exit %d, out %q; want the list of names", code, out.String())
	}
}
