package policy

import "testing"

// The activation indexes Variables by the v* constants: they must agree
// (this was a panic in an init func; a test says it before any binary ships).
func TestVariableIndexes(t *testing.T) {
	if len(Variables) != numVars {
		t.Fatalf("%d Variables, %d v* constants", len(Variables), numVars)
	}
	for i, want := range map[int]string{
		vTaskID: "task.id", vTaskTarget: "task.target", vIntentKind: "intent.kind", vIntentScope: "intent.scope",
		vPlanPaths: "plan.paths", vPlanSource: "plan.source", vStepIndex: "step.index", vStepRisk: "step.risk",
	} {
		if got := Variables[i].Name; got != want {
			t.Errorf("Variables[%d] is %s, the constant says %s", i, got, want)
		}
	}
	for i, v := range Variables {
		if got := lookupVar(v.Name); got != i {
			t.Errorf("%s: index %d, want %d", v.Name, got, i)
		}
	}
}
