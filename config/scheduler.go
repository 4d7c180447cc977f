package config

import (
	"fmt"
	"strings"
)

// Scheduler holds the ordered scheduler rules (red line 10). The scheduler
// package compiles the conditions and hashes the list; every dispatch, hold
// and skip names the deciding rule and that hash.
type Scheduler struct {
	Rules []SchedulerRule `yaml:"rules" json:"rules"`
	// MaxAttempts bounds how many runs a task gets: a worker that takes
	// over a task whose runner died re-queues it only while it has had
	// fewer runs than this, then ends it failed (0: DefaultMaxAttempts).
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`
}

// DefaultMaxAttempts is scheduler.max_attempts' default.
const DefaultMaxAttempts = 3

// Attempts is the number of runs a task may have.
func (s Scheduler) Attempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return DefaultMaxAttempts
}

// Scheduler rule effects.
const (
	// EffectHold keeps a matching task queued (first hold or run rule wins).
	EffectHold = "hold"
	// EffectRun exempts a matching task from later hold rules.
	EffectRun = "run"
	// EffectPriority sets the task's priority (first matching rule wins;
	// higher runs first; FIFO within a priority; default 0).
	EffectPriority = "priority"
	// EffectSerialize runs at most one task at a time per key.
	EffectSerialize = "serialize"
	// EffectMaxConcurrency runs at most Limit tasks at a time per key.
	EffectMaxConcurrency = "max_concurrency"
)

// SchedulerRule is one scheduler rule: a CEL condition over the task
// (task.id, task.labels, task.paths, task.mode, task.risk, task.age,
// task.submitter, task.target) and an effect.
type SchedulerRule struct {
	ID string `yaml:"id" json:"id"`
	// When is a CEL condition; empty matches every task.
	When string `yaml:"when" json:"when"`
	// Effect is hold, run, priority, serialize or max_concurrency.
	Effect string `yaml:"effect" json:"effect"`
	// Priority is the priority set by effect priority.
	Priority int `yaml:"priority" json:"priority,omitempty"`
	// Key names what serialize and max_concurrency count: a literal, or
	// with KeyExpr a CEL expression over the task returning a string.
	Key     string `yaml:"key" json:"key,omitempty"`
	KeyExpr string `yaml:"key_expr" json:"key_expr,omitempty"`
	// Limit is max_concurrency's bound (1 or more).
	Limit int `yaml:"limit" json:"limit,omitempty"`
	// Reason is recorded with every decision the rule makes.
	Reason string `yaml:"reason" json:"reason,omitempty"`
}

// validateScheduler checks what needs no CEL; the scheduler package
// type-checks the conditions and key expressions.
func validateScheduler(c *Config) error {
	if c.Scheduler.MaxAttempts < 0 {
		return fmt.Errorf("scheduler.max_attempts: %d is negative; want 1 or more (default %d)", c.Scheduler.MaxAttempts, DefaultMaxAttempts)
	}
	seen := map[string]bool{}
	for i, r := range c.Scheduler.Rules {
		where := fmt.Sprintf("scheduler.rules[%d]", i)
		if r.ID == "" {
			return fmt.Errorf("%s: id is required", where)
		}
		if !gateIDRe().MatchString(r.ID) || r.ID == "default" || strings.HasPrefix(r.ID, "builtin.") {
			return fmt.Errorf("%s: id %q must be lower-case letters, digits, '.', '_' or '-', not \"default\" and not start with \"builtin.\"", where, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%s: duplicate scheduler rule id %q", where, r.ID)
		}
		seen[r.ID] = true
		where = fmt.Sprintf("scheduler.rules[%d] (%s)", i, r.ID)
		keyed := r.Effect == EffectSerialize || r.Effect == EffectMaxConcurrency
		switch r.Effect {
		case EffectHold, EffectRun, EffectPriority, EffectSerialize, EffectMaxConcurrency:
		default:
			return fmt.Errorf("%s: effect %q must be hold, run, priority, serialize or max_concurrency", where, r.Effect)
		}
		if r.Effect != EffectPriority && r.Priority != 0 {
			return fmt.Errorf("%s: priority applies only to effect priority", where)
		}
		if keyed && (strings.TrimSpace(r.Key) == "") == (strings.TrimSpace(r.KeyExpr) == "") {
			return fmt.Errorf("%s: effect %s needs exactly one of key (a name) or key_expr (CEL returning a string)", where, r.Effect)
		}
		if !keyed && (r.Key != "" || r.KeyExpr != "") {
			return fmt.Errorf("%s: key and key_expr apply only to effects serialize and max_concurrency", where)
		}
		if r.Effect == EffectMaxConcurrency && r.Limit < 1 {
			return fmt.Errorf("%s: max_concurrency needs limit 1 or more, got %d", where, r.Limit)
		}
		if r.Effect != EffectMaxConcurrency && r.Limit != 0 {
			return fmt.Errorf("%s: limit applies only to effect max_concurrency", where)
		}
	}
	return nil
}
