package config

import (
	"fmt"
)

// Limits bound what one task may bring, so a runaway planner or a hostile
// plan file fails with a clear message instead of exhausting memory or
// the store. The defaults sit far above anything a real repository needs
// (docs/limits.md has the table); 0 means the default.
type Limits struct {
	// PlanFileBytes bounds a plan file as read (default 64 MiB).
	PlanFileBytes int64 `yaml:"plan_file_bytes"`
	// FileBytes bounds one step's content: a write's bytes or a patch's
	// diff (default 32 MiB).
	FileBytes int64 `yaml:"file_bytes"`
	// GoalBytes bounds a task's goal or request text (default 4 KiB).
	GoalBytes int64 `yaml:"goal_bytes"`
	// AnswerBytes bounds one answer to a question (default 64 KiB).
	AnswerBytes int64 `yaml:"answer_bytes"`
	// CommentBytes bounds a reason or comment a person records with a
	// decision (an approval's comment, a rejection's or a cancel's reason,
	// an answer's note) and each piece of prose a plan's author writes
	// beside its steps (a rationale, a question's text and why, a model's
	// constraints and assumptions) (default 16 KiB).
	CommentBytes int64 `yaml:"comment_bytes"`
}

// Default limits.
const (
	DefaultPlanFileBytes = 64 << 20
	DefaultFileBytes     = 32 << 20
	DefaultGoalBytes     = 4 << 10
	DefaultAnswerBytes   = 64 << 10
	DefaultCommentBytes  = 16 << 10
	// maxLimitBytes caps every limit: past 1 GiB the store and the
	// ReviewPack are the wrong place for the content anyway.
	maxLimitBytes = 1 << 30
)

func orDefault(v, d int64) int64 {
	if v <= 0 {
		return d
	}
	return v
}

// PlanFile returns limits.plan_file_bytes or its default.
func (l Limits) PlanFile() int64 { return orDefault(l.PlanFileBytes, DefaultPlanFileBytes) }

// File returns limits.file_bytes or its default.
func (l Limits) File() int64 { return orDefault(l.FileBytes, DefaultFileBytes) }

// Goal returns limits.goal_bytes or its default.
func (l Limits) Goal() int64 { return orDefault(l.GoalBytes, DefaultGoalBytes) }

// Answer returns limits.answer_bytes or its default.
func (l Limits) Answer() int64 { return orDefault(l.AnswerBytes, DefaultAnswerBytes) }

// Comment returns limits.comment_bytes or its default.
func (l Limits) Comment() int64 { return orDefault(l.CommentBytes, DefaultCommentBytes) }

// Fixed limits on names a person or a client gives. They are names, not
// prose: scheduler rules match labels, a plan's source name is a file
// name (PATH_MAX is 4096), so no repository needs more and there is no
// setting.
const (
	// MaxLabelBytes bounds one task label.
	MaxLabelBytes = 256
	// MaxLabels bounds how many labels a task has (plan file and flags
	// together).
	MaxLabels = 64
	// MaxSourceNameBytes bounds the name a plan is submitted under (a
	// file's path, "api:NAME").
	MaxSourceNameBytes = 4096
)

func validateLimits(c *Config) error {
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int64
	}{{"plan_file_bytes", l.PlanFileBytes}, {"file_bytes", l.FileBytes}, {"goal_bytes", l.GoalBytes}, {"answer_bytes", l.AnswerBytes}, {"comment_bytes", l.CommentBytes}} {
		if f.v < 0 || f.v > maxLimitBytes {
			return fmt.Errorf("limits.%s: must be between 0 (the default) and %d bytes, got %d", f.name, maxLimitBytes, f.v)
		}
	}
	return nil
}

// SizeOf renders n bytes for messages: "64 MiB", "4 KiB", "123 bytes".
func SizeOf(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
