package scheduler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/scheduler"
)

var t0 = time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)

func mustParse(t *testing.T, rulesYAML string) *scheduler.Scheduler {
	t.Helper()
	c, err := config.Parse([]byte("version: 1\nscheduler:\n  rules:\n"+rulesYAML), "agentos.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, err := scheduler.New(c.Scheduler.Rules)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func task(id string, minutesAfter int, labels ...string) scheduler.Task {
	return scheduler.Task{ID: id, Labels: labels, Mode: "semi_auto", Risk: "low", Submitter: "human:ann", Target: "main",
		Paths: []string{"src/" + id + ".go"}, Submitted: t0.Add(time.Duration(minutesAfter) * time.Minute)}
}

// summary renders decisions as "T1:hold(rule)" for compact comparisons.
func summary(ds []scheduler.Decision) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s:%s(%s)", d.Task, d.Action, d.RuleID))
	}
	return strings.Join(parts, " ")
}

func TestDecide(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		rules   string
		queued  []scheduler.Task
		running []scheduler.Task
		want    string
	}{
		{
			name:   "FIFOWithoutRules",
			queued: []scheduler.Task{task("B", 2), task("A", 1), task("C", 3)},
			want:   "A:dispatch(default)",
		},
		{
			name: "Hold",
			rules: `    - {id: freeze, when: "'freeze' in task.labels", effect: hold, reason: "release freeze"}
`,
			queued: []scheduler.Task{task("A", 1, "freeze"), task("B", 2)},
			want:   "A:hold(freeze) B:dispatch(default)",
		},
		{
			name: "RunExemptsFromLaterHolds",
			rules: `    - {id: hotfix, when: "'hotfix' in task.labels", effect: run}
    - {id: freeze, when: "true", effect: hold}
`,
			queued: []scheduler.Task{task("A", 1), task("B", 2, "hotfix")},
			want:   "A:hold(freeze) B:dispatch(hotfix)",
		},
		{
			name: "PriorityThenFIFO",
			rules: `    - {id: urgent, when: "'urgent' in task.labels", effect: priority, priority: 10}
    - {id: also, when: "'urgent' in task.labels", effect: priority, priority: 1}
`,
			queued: []scheduler.Task{task("A", 1), task("C", 3, "urgent"), task("B", 2, "urgent")},
			want:   "B:dispatch(default)",
		},
		{
			name: "NegativePriorityGoesLast",
			rules: `    - {id: bulk, when: "'bulk' in task.labels", effect: priority, priority: -5}
`,
			queued: []scheduler.Task{task("A", 1, "bulk"), task("B", 2)},
			want:   "B:dispatch(default)",
		},
		{
			name: "SerializeSkipsToNextTask",
			rules: `    - {id: db, when: "task.paths.exists(p, p.startsWith('db/'))", effect: serialize, key: db}
`,
			queued:  []scheduler.Task{{ID: "A", Paths: []string{"db/1.sql"}, Submitted: t0}, task("B", 2)},
			running: []scheduler.Task{{ID: "R", Paths: []string{"db/0.sql"}, Submitted: t0}},
			want:    "A:skip(db) B:dispatch(default)",
		},
		{
			name: "SerializeFreeKey",
			rules: `    - {id: db, when: "task.paths.exists(p, p.startsWith('db/'))", effect: serialize, key: db}
`,
			queued:  []scheduler.Task{{ID: "A", Paths: []string{"db/1.sql"}, Submitted: t0}, task("B", 2)},
			running: []scheduler.Task{task("R", 0)},
			want:    "A:dispatch(default)",
		},
		{
			name: "SerializeByKeyExpr",
			rules: `    - {id: per-target, key_expr: task.target, effect: serialize}
`,
			queued:  []scheduler.Task{task("A", 1), {ID: "B", Target: "release", Submitted: t0.Add(2 * time.Minute)}},
			running: []scheduler.Task{task("R", 0)},
			want:    "A:skip(per-target) B:dispatch(default)",
		},
		{
			name: "MaxConcurrencyBelowLimit",
			rules: `    - {id: docs, when: "'docs' in task.labels", effect: max_concurrency, key: docs, limit: 2}
`,
			queued:  []scheduler.Task{task("A", 1, "docs")},
			running: []scheduler.Task{task("R1", 0, "docs")},
			want:    "A:dispatch(default)",
		},
		{
			name: "MaxConcurrencyAtLimit",
			rules: `    - {id: docs, when: "'docs' in task.labels", effect: max_concurrency, key: docs, limit: 2}
`,
			queued:  []scheduler.Task{task("A", 1, "docs"), task("B", 2, "docs")},
			running: []scheduler.Task{task("R1", 0, "docs"), task("R2", 0, "docs")},
			want:    "A:skip(docs) B:skip(docs)",
		},
		{
			name: "AgeHold",
			rules: `    - {id: cool-off, when: "task.age < duration('30m')", effect: hold}
`,
			queued: []scheduler.Task{task("A", 40)},
			want:   "A:hold(cool-off)",
		},
		{
			name: "ModeRiskSubmitter",
			rules: `    - {id: risky, when: "task.mode == 'full_auto' && task.risk == 'high' && task.submitter.startsWith('agent:')", effect: hold}
`,
			queued: []scheduler.Task{{ID: "A", Mode: "full_auto", Risk: "high", Submitter: "agent:bot", Submitted: t0}, {ID: "B", Mode: "full_auto", Risk: "high", Submitter: "human:ann", Submitted: t0.Add(time.Second)}},
			want:   "A:hold(risky) B:dispatch(default)",
		},
		{
			name: "FailClosedOnEvalError",
			rules: `    - {id: broken, when: "task.labels[3] == 'x'", effect: run}
`,
			queued: []scheduler.Task{task("A", 1, "one"), task("B", 2, "a", "b", "c", "x")},
			want:   "A:hold(broken) B:dispatch(broken)",
		},
		{
			name:   "Empty",
			queued: nil,
			want:   "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.rules)
			got := s.Decide(tc.queued, tc.running, now)
			if summary(got) != tc.want {
				t.Fatalf("Decide = %s, want %s", summary(got), tc.want)
			}
			for _, d := range got {
				if d.RulesHash != s.Hash || !strings.HasPrefix(d.RulesHash, "sha256:") {
					t.Fatalf("RulesHash = %q, want %q", d.RulesHash, s.Hash)
				}
				if d.Reason == "" {
					t.Fatalf("decision %+v has no reason", d)
				}
			}
		})
	}
}

func TestDecisionDetails(t *testing.T) {
	s := mustParse(t, `    - {id: urgent, when: "'urgent' in task.labels", effect: priority, priority: 10}
    - {id: db, when: "true", effect: serialize, key: db}
    - {id: freeze, when: "'freeze' in task.labels", effect: hold, reason: "release freeze until Monday"}
`)
	ds := s.Decide([]scheduler.Task{task("A", 1, "urgent", "freeze")}, nil, t0)
	if len(ds) != 1 {
		t.Fatalf("Decide = %s", summary(ds))
	}
	d := ds[0]
	if d.Action != scheduler.Hold || d.RuleID != "freeze" || d.Reason != "release freeze until Monday" ||
		d.Priority != 10 || d.PriorityRule != "urgent" || strings.Join(d.Matched, ",") != "urgent,db,freeze" {
		t.Fatalf("decision = %+v", d)
	}
	ds = s.Decide([]scheduler.Task{task("B", 1)}, []scheduler.Task{task("R2", 0), task("R1", 0)}, t0)
	// A serialize key held by two running tasks (after a rule change) still names both.
	if len(ds) != 1 || ds[0].Action != scheduler.Skip || strings.Join(ds[0].Holders, ",") != "R1,R2" {
		t.Fatalf("Decide = %+v, want a skip naming R1,R2", ds)
	}
}

// TestReevaluation: a held or skipped task runs once what held it changes,
// and Same tells a repeated decision from a changed one.
func TestReevaluation(t *testing.T) {
	s := mustParse(t, `    - {id: cool-off, when: "task.age < duration('30m')", effect: hold}
    - {id: one-at-a-time, effect: serialize, key: all}
`)
	a := task("A", 0)
	first := s.Decide([]scheduler.Task{a}, nil, t0.Add(10*time.Minute))
	again := s.Decide([]scheduler.Task{a}, nil, t0.Add(20*time.Minute))
	if summary(first) != "A:hold(cool-off)" || !first[0].Same(again[0]) {
		t.Fatalf("Decide = %s then %s, want the same hold", summary(first), summary(again))
	}
	busy := s.Decide([]scheduler.Task{a}, []scheduler.Task{task("R", -60)}, t0.Add(31*time.Minute))
	if summary(busy) != "A:skip(one-at-a-time)" || busy[0].Same(first[0]) {
		t.Fatalf("Decide = %s, want a skip (a new decision)", summary(busy))
	}
	free := s.Decide([]scheduler.Task{a}, nil, t0.Add(31*time.Minute))
	if summary(free) != "A:dispatch(default)" {
		t.Fatalf("Decide = %s, want a dispatch once R finished", summary(free))
	}
}

func TestHash(t *testing.T) {
	a := []config.SchedulerRule{{ID: "x", When: "true", Effect: "hold"}}
	b := []config.SchedulerRule{{ID: "x", When: "true", Effect: "run"}}
	if scheduler.Hash(a) == scheduler.Hash(b) {
		t.Fatal("different rules, same hash")
	}
	if scheduler.Hash(a) != scheduler.Hash([]config.SchedulerRule{{ID: "x", When: "true", Effect: "hold"}}) {
		t.Fatal("same rules, different hash")
	}
	if scheduler.Hash(nil) != scheduler.Hash([]config.SchedulerRule{}) {
		t.Fatal("nil and empty rule lists hash differently")
	}
}

func TestNewInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule config.SchedulerRule
	}{
		{"SyntaxError", config.SchedulerRule{ID: "x", When: "task.labels ==", Effect: "hold"}},
		{"NotBool", config.SchedulerRule{ID: "x", When: "'a'", Effect: "hold"}},
		{"KeyNotString", config.SchedulerRule{ID: "x", KeyExpr: "1", Effect: "serialize"}},
		{"UnknownVariable", config.SchedulerRule{ID: "x", When: "plan.steps == 1", Effect: "hold"}},
		{"UnknownTaskField", config.SchedulerRule{ID: "x", When: "'a' in task.lables", Effect: "hold"}},
		{"UnknownKeyField", config.SchedulerRule{ID: "x", KeyExpr: "task.branch", Effect: "serialize"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scheduler.New([]config.SchedulerRule{tc.rule})
			if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "(x)") {
				t.Fatalf("New = %v, want invalid naming rule x", err)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
	}{
		{"NoID", "    - {effect: hold}\n"},
		{"Duplicate", "    - {id: a, effect: hold}\n    - {id: a, effect: run}\n"},
		{"ReservedID", "    - {id: default, effect: hold}\n"},
		{"BuiltinID", "    - {id: builtin.x, effect: hold}\n"},
		{"UnknownEffect", "    - {id: a, effect: pause}\n"},
		{"SerializeWithoutKey", "    - {id: a, effect: serialize}\n"},
		{"SerializeBothKeys", "    - {id: a, effect: serialize, key: k, key_expr: task.target}\n"},
		{"MaxConcurrencyNoLimit", "    - {id: a, effect: max_concurrency, key: k}\n"},
		{"PriorityOnHold", "    - {id: a, effect: hold, priority: 3}\n"},
		{"KeyOnHold", "    - {id: a, effect: hold, key: k}\n"},
		{"UnknownField", "    - {id: a, effect: hold, colour: red}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte("version: 1\nscheduler:\n  rules:\n"+tc.rules), "agentos.yaml")
			if agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("Parse = %v, want invalid", err)
			}
		})
	}
}

func BenchmarkDecide100(b *testing.B) {
	c, err := config.Parse([]byte(`version: 1
scheduler:
  rules:
    - {id: freeze, when: "'freeze' in task.labels", effect: hold}
    - {id: urgent, when: "'urgent' in task.labels", effect: priority, priority: 10}
    - {id: db, when: "task.paths.exists(p, p.startsWith('db/'))", effect: serialize, key: db}
`), "agentos.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := scheduler.New(c.Scheduler.Rules)
	if err != nil {
		b.Fatal(err)
	}
	var queued []scheduler.Task
	for i := range 100 {
		queued = append(queued, scheduler.Task{ID: fmt.Sprint("T", i), Labels: []string{"freeze"}, Paths: []string{"src/a.go"}, Submitted: t0})
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Decide(queued, nil, t0)
	}
}
