// Package review renders ReviewPacks: the Markdown a reviewer reads, and the
// rollback guide with the exact commands for the run's outcome.
package review

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agentos/agentos"
)

// RollbackGuide returns the exact commands that undo (or inspect) a run.
func RollbackGuide(rp *agentos.ReviewPack, worktree string) []string {
	switch rp.Outcome {
	case agentos.StateCommitted:
		var out []string
		for _, c := range rp.Commits {
			if c.Branch == rp.Target {
				out = append(out,
					fmt.Sprintf("agentos rollback %s    # a traceable revert commit on %s", rp.Task, rp.Target),
					fmt.Sprintf("git revert --no-edit %s    # the same by hand (not traced)", c.SHA))
				return out
			}
		}
		if len(rp.Commits) > 0 {
			last := rp.Commits[len(rp.Commits)-1]
			return []string{
				fmt.Sprintf("nothing landed on %s yet; the commit %s waits on branch %s", rp.Target, last.SHA, last.Branch),
				fmt.Sprintf("git branch -D %s    # discard it", last.Branch),
			}
		}
	case agentos.StateRolledBack:
		return []string{fmt.Sprintf("the change was rolled back; to restore it: git revert --no-edit %s", lastSHA(rp))}
	}
	out := []string{fmt.Sprintf("nothing was committed to %s: no rollback needed", orDash(rp.Target))}
	if worktree != "" {
		out = append(out,
			fmt.Sprintf("cd %s && git status    # inspect what the run left", worktree),
			fmt.Sprintf("agentos task clean %s    # remove the worktree and its branch", rp.Task))
	}
	return out
}

func lastSHA(rp *agentos.ReviewPack) string {
	if len(rp.Commits) == 0 {
		return "-"
	}
	return rp.Commits[len(rp.Commits)-1].SHA
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Markdown renders a ReviewPack for people.
func Markdown(rp *agentos.ReviewPack) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# ReviewPack: task %s, run %s\n\n", rp.Task, orDash(rp.Run))
	if rp.Unverified != "" {
		// First, before anything else a reviewer reads.
		w("**UNVERIFIED:** %s\n\n", oneLine(rp.Unverified))
	}
	w("- **Outcome:** %s\n", rp.Outcome)
	if rp.Reason != "" {
		w("- **Reason:** %s\n", oneLine(rp.Reason))
	}
	w("- **Goal:** %s\n", rp.Goal)
	w("- **Mode:** %s\n", rp.Mode)
	if rp.Request != "" {
		w("- **Request:** %s\n", rp.Request)
	}
	w("- **Plan:** `%s`\n", orDash(rp.PlanHash))
	w("- **Base:** `%s` → target `%s`\n", orDash(rp.BaseCommit), orDash(rp.Target))
	if rp.Unconfined {
		w("- **UNCONFINED:** at least one command ran without the sandbox (policy `sandbox: {require: false}`)\n")
	}
	w("- **Audit:** events %d–%d, chain head `%s`\n\n", rp.AuditFrom, rp.AuditTo, rp.ChainHead)

	if rp.Intent != nil {
		w("## Intent `%s`\n\n", rp.Intent.ID)
		w("- Kind: %s, risk: %s, planner: %s\n", rp.Intent.Kind, rp.Intent.Risk, rp.Intent.Source.Planner)
		if len(rp.Intent.Scope) > 0 {
			w("- Scope: %s\n", strings.Join(rp.Intent.Scope, ", "))
		}
		for _, a := range rp.Intent.Acceptance {
			w("- Acceptance: `%s`\n", a)
		}
		w("\n")
	}
	if rp.MemoryPack != nil {
		w("## MemoryPack `%s`\n\n", rp.MemoryPack.Hash)
		if len(rp.MemoryPack.Items) == 0 {
			w("No memory items matched (the pack is empty, hashed and pinned).\n\n")
		}
		for _, it := range rp.MemoryPack.Items {
			w("- [%s] %s (score %.3f, %s)\n", it.Kind, oneLine(it.Text), it.Score, it.Source)
		}
		if len(rp.MemoryPack.Items) > 0 {
			w("\n")
		}
	}
	if rp.Questions != nil || len(rp.Answers) > 0 || len(rp.Assumptions) > 0 {
		w("## Questions and answers\n\n")
		if rp.Questions != nil {
			w("QuestionPack `%s` (%s, budget %d, used %d):\n\n", rp.Questions.ID, rp.Questions.Mode, rp.Questions.Budget.Limit, rp.Questions.Budget.Used)
			for _, q := range rp.Questions.Questions {
				w("- `%s` (%s%s): %s\n", q.ID, q.Kind, map[bool]string{true: ", blocker"}[q.Blocker], q.Text)
			}
			w("\n")
		}
		for _, a := range rp.Answers {
			for _, x := range a.Answers {
				w("- answer `%s` = %q by %s (%s)\n", x.Question, x.Value, a.Who, a.Pack)
			}
		}
		for _, a := range rp.Assumptions {
			w("- assumed `%s` = %q: %s\n", a.Question, a.Value, a.Why)
		}
		w("\n")
	}
	if len(rp.PlannerCalls) > 0 || rp.PlannerLastAnswer != "" {
		w("## Planner calls\n\n")
		if len(rp.PlannerCalls) > 0 {
			w("| call | attempt | model | prompt tokens | completion tokens | ms | outcome |\n|---|---|---|---|---|---|---|\n")
		}
		for _, c := range rp.PlannerCalls {
			w("| %s | %d | %s | %d | %d | %d | %s |\n", c.Call, c.Attempt, c.Model, c.PromptTokens, c.CompletionTokens, c.LatencyMS, c.Outcome)
		}
		if rp.PlannerLastAnswer != "" {
			w("\nThe model's last answer (not usable):\n\n```json\n%s\n```\n", strings.TrimSpace(rp.PlannerLastAnswer))
		}
		w("\n")
	}
	w("## Gates\n\n")
	if len(rp.Gates) == 0 {
		w("No gate was evaluated.\n")
	}
	for _, g := range rp.Gates {
		step := "plan"
		if g.Step >= 0 {
			step = fmt.Sprintf("step %d", g.Step+1)
		}
		w("- `%s` → **%s** (%s): %s\n", g.RuleID, g.Effect, step, oneLine(g.Reason))
	}
	w("\n## Records\n\n")
	if len(rp.Records) == 0 {
		w("No step ran.\n")
	} else {
		w("| phase | # | what | exit | ms | ok |\n|---|---|---|---|---|---|\n")
	}
	for _, r := range rp.Records {
		w("| %s | %d | %s | %d | %d | %s |\n", r.Phase, r.Index+1, strings.ReplaceAll(oneLine(r.Summary), "|", `\|`), r.ExitCode, r.DurationMS, map[bool]string{true: "yes", false: "**no**"}[r.OK])
	}
	for _, r := range rp.Records {
		if !r.OK && r.OutputTail != "" {
			w("\nOutput tail of %s %d (%s, digest `%s`):\n\n```\n%s\n```\n", r.Phase, r.Index+1, oneLine(r.Summary), r.OutputDigest, strings.TrimRight(r.OutputTail, "\n"))
		}
	}
	if len(rp.Commands) > 0 {
		w("\n## Command decisions\n\n")
		for _, c := range rp.Commands {
			w("- `%s` → **%s** by rule `%s`", strings.Join(c.Argv, " "), c.Decision, c.RuleID)
			if c.Reason != "" {
				w(": %s", oneLine(c.Reason))
			}
			w("\n")
		}
	}
	if len(rp.Patches) > 0 {
		w("\n## Patches\n\n")
		for _, p := range rp.Patches {
			w("### %s\n\nintent `%s`, diff `%s`\n\n```diff\n%s\n```\n\n", p.Path, p.IntentID, p.DiffHash, strings.TrimRight(p.Diff, "\n"))
		}
	}
	if len(rp.Commits) > 0 {
		w("\n## Commits\n\n")
		for _, c := range rp.Commits {
			w("- `%s` on `%s`\n", c.SHA, c.Branch)
			keys := make([]string, 0, len(c.Trailers))
			for k := range c.Trailers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				w("  - %s: %s\n", k, c.Trailers[k])
			}
		}
	}
	w("\n## Rollback guide\n\n```sh\n%s\n```\n", strings.Join(rp.Rollback, "\n"))
	w("\nReviewPack hash: `%s`\n", rp.Hash)
	return b.String()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
