// Package review renders ReviewPacks: the Markdown a reviewer reads, and the
// rollback guide with the exact commands for the run's outcome.
package review

import (
	"fmt"
	"maps"
	"slices"
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

// Markdown renders a ReviewPack for people. Every value that came from a
// person, a model, a plan or a command (goal, request, reason, summaries,
// argv, paths, answers, memory, output, diffs) is rendered inert: inline as
// a code span on one line (newlines shown as ⏎), in tables with | escaped,
// and multi-line text in a fence longer than any fence inside it. So no
// value can open a heading, a table row, a list item, a link, HTML or a
// section of its own; only the headings and labels below structure the pack.
func Markdown(rp *agentos.ReviewPack) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# ReviewPack: task %s, run %s\n\n", rp.Task, orDash(rp.Run))
	if rp.Unverified != "" {
		// First, before anything else a reviewer reads.
		w("**UNVERIFIED:** %s\n\n", oneLine(rp.Unverified)) // AgentOS's own words
	}
	w("- **Outcome:** %s\n", rp.Outcome)
	if rp.Reason != "" {
		w("- **Reason:** %s\n", code(rp.Reason))
	}
	w("- **Goal:** %s\n", code(rp.Goal))
	w("- **Mode:** %s\n", rp.Mode)
	if rp.Request != "" {
		w("- **Request:** %s\n", code(rp.Request))
	}
	w("- **Plan:** %s\n", code(orDash(rp.PlanHash)))
	w("- **Base:** %s → target %s\n", code(orDash(rp.BaseCommit)), code(orDash(rp.Target)))
	if rp.Attestation != "" {
		w("- **Attestation:** %s\n", code(rp.Attestation))
	}
	if rp.Unconfined {
		w("- **UNCONFINED:** at least one command ran without the sandbox (policy `sandbox: {require: false}`)\n")
	}
	if c := rp.ToolCounts; c != nil {
		w("- **Agent tool calls:** %d decided: %d allowed, %d denied", c.Total, c.Allowed, c.Denied)
		if c.Asked > 0 {
			w(", %d asked", c.Asked)
		}
		w("\n")
	}
	w("- **Audit:** events %d–%d, chain head %s\n\n", rp.AuditFrom, rp.AuditTo, code(rp.ChainHead))

	if rp.Intent != nil {
		w("## Intent %s\n\n", code(rp.Intent.ID))
		w("- Kind: %s, risk: %s, planner: %s\n", code(rp.Intent.Kind), code(rp.Intent.Risk), code(rp.Intent.Source.Planner))
		if len(rp.Intent.Scope) > 0 {
			w("- Scope: %s\n", codes(rp.Intent.Scope))
		}
		for _, a := range rp.Intent.Acceptance {
			w("- Acceptance: %s\n", code(a))
		}
		w("\n")
	}
	if rp.MemoryPack != nil {
		w("## MemoryPack %s\n\n", code(rp.MemoryPack.Hash))
		if len(rp.MemoryPack.Items) == 0 {
			w("No memory items matched (the pack is empty, hashed and pinned).\n\n")
		}
		for _, it := range rp.MemoryPack.Items {
			w("- %s %s (score %.3f, %s)\n", code(string(it.Kind)), code(it.Text), it.Score, code(it.Source))
		}
		if len(rp.MemoryPack.Items) > 0 {
			w("\n")
		}
	}
	if rp.Questions != nil || len(rp.Answers) > 0 || len(rp.Assumptions) > 0 {
		w("## Questions and answers\n\n")
		if rp.Questions != nil {
			w("QuestionPack %s (%s, budget %d, used %d):\n\n", code(rp.Questions.ID), rp.Questions.Mode, rp.Questions.Budget.Limit, rp.Questions.Budget.Used)
			for _, q := range rp.Questions.Questions {
				w("- %s (%s%s): %s\n", code(q.ID), code(string(q.Kind)), map[bool]string{true: ", blocker"}[q.Blocker], code(q.Text))
			}
			w("\n")
		}
		for _, a := range rp.Answers {
			for _, x := range a.Answers {
				w("- answer %s = %s by %s (%s)\n", code(x.Question), code(x.Value), code(string(a.Who)), code(a.Pack))
			}
		}
		for _, a := range rp.Assumptions {
			w("- assumed %s = %s: %s\n", code(a.Question), code(a.Value), code(a.Why))
		}
		w("\n")
	}
	if len(rp.PlannerCalls) > 0 || rp.PlannerLastAnswer != "" {
		w("## Planner calls\n\n")
		if len(rp.PlannerCalls) > 0 {
			w("| call | attempt | model | prompt tokens | completion tokens | ms | outcome |\n|---|---|---|---|---|---|---|\n")
		}
		for _, c := range rp.PlannerCalls {
			w("| %s | %d | %s | %d | %d | %d | %s |\n", c.Call, c.Attempt, cell(c.Model), c.PromptTokens, c.CompletionTokens, c.LatencyMS, cell(c.Outcome))
		}
		if rp.PlannerLastAnswer != "" {
			w("\nThe model's last answer (not usable):\n\n%s\n", fence("json", strings.TrimSpace(rp.PlannerLastAnswer)))
		}
		w("\n")
	}
	if sp := rp.Spend; sp != nil {
		w("## Spend\n\n")
		w("%d model calls, %d tokens, %s", sp.Total.Calls, sp.Total.Tokens, usd(sp.Total.CostMicroUSD))
		if sp.Exceeded != "" {
			w("; stopped at the %s limit", code(sp.Exceeded))
		}
		w(".\n\n")
		if len(sp.ByModel) > 0 {
			w("| model | calls | tokens | cost |\n|---|---|---|---|\n")
			for _, m := range slices.Sorted(maps.Keys(sp.ByModel)) {
				t := sp.ByModel[m]
				w("| %s | %d | %d | %s |\n", cell(m), t.Calls, t.Tokens, usd(t.CostMicroUSD))
			}
			w("\n")
		}
		for _, l := range sp.Limits {
			lim, spent := fmt.Sprint(l.Limit, " tokens"), fmt.Sprint(l.Spent, " tokens")
			if l.Metric == "cost_usd" {
				lim, spent = usd(l.Limit), usd(l.Spent)
			}
			by := ""
			if l.RaisedBy != "" {
				by = " (raised by " + code(string(l.RaisedBy)) + ")"
			}
			w("- %s %s limit %s%s: %s spent\n", l.Scope, l.Metric, lim, by, spent)
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
		w("- %s → **%s** (%s): %s\n", code(g.RuleID), g.Effect, step, code(g.Reason))
	}
	if len(rp.Decisions) > 0 {
		w("\n## Approvals and answers\n\n")
		for _, d := range rp.Decisions {
			how := "signed with " + code(d.Key)
			if d.Unsigned {
				how = "**unsigned** (no signers listed; OS user " + code(d.OSUser) + ")"
			}
			plan := ""
			if d.PlanHash != "" {
				plan = " of plan " + code(d.PlanHash)
			}
			w("- %s by %s%s, %s (event %d)\n", d.Decision, code(string(d.Actor)), plan, how, d.Seq)
		}
	}
	if len(rp.Attempts) > 1 {
		w("\n## Attempts\n\n| # | run | started | ended | outcome |\n|---|---|---|---|---|\n")
		for i, a := range rp.Attempts {
			ended := "-"
			if !a.EndedAt.IsZero() {
				ended = a.EndedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			w("| %d | %s | %s | %s | %s |\n", i+1, code(a.ID), a.StartedAt.UTC().Format("2006-01-02T15:04:05Z"), ended, cell(string(a.Outcome)))
		}
	}
	w("\n## Records\n\n")
	if len(rp.Records) == 0 {
		w("No step ran.\n")
	} else {
		w("| phase | # | what | exit | ms | ok |\n|---|---|---|---|---|---|\n")
	}
	steps := stepCount(rp.Records)
	for _, r := range rp.Records {
		w("| %s | %s | %s | %d | %d | %s |\n", r.Phase, recordLabel(r, steps), cell(r.Summary), r.ExitCode, r.DurationMS, map[bool]string{true: "yes", false: "**no**"}[r.OK])
	}
	for _, r := range rp.Records {
		if !r.OK && r.OutputTail != "" {
			w("\nOutput tail of %s %s (%s, digest %s):\n\n%s\n", r.Phase, recordLabel(r, steps), code(r.Summary), code(r.OutputDigest), fence("", strings.TrimRight(r.OutputTail, "\n")))
		}
	}
	if len(rp.Commands) > 0 {
		w("\n## Command decisions\n\n")
		for _, c := range rp.Commands {
			w("- %s → **%s** by rule %s", code(strings.Join(c.Argv, " ")), c.Decision, code(c.RuleID))
			if c.Reason != "" {
				w(": %s", code(c.Reason))
			}
			w("\n")
		}
	}
	if len(rp.ToolDecisions) > 0 {
		w("\n## Agent tool decisions\n\n| # | tool | call | decision | rule | reason |\n|---|---|---|---|---|---|\n")
		for _, d := range rp.ToolDecisions {
			call := d.Command
			if call == "" {
				call = d.Path
			}
			dec := "**deny**"
			switch {
			case d.Allow:
				dec = "allow"
			case d.Ask:
				dec = "ask"
			}
			w("| %d | %s | %s | %s | %s | %s |\n", d.Seq, cell(d.Tool), cell(call), dec, cell(d.Rule), cell(d.Reason))
		}
	}
	if len(rp.Patches) > 0 {
		w("\n## Patches\n\n")
		for _, p := range rp.Patches {
			if p.DiffBlob != "" {
				// A large patch is kept once, in the store, not copied here.
				w("### %s\n\nintent %s, diff %s\n\nThe patch is %d bytes, kept once in the store as blob %s (`git show` of the commit prints it).\n\n",
					code(p.Path), code(p.IntentID), code(p.DiffHash), p.DiffBytes, code(p.DiffBlob))
				continue
			}
			w("### %s\n\nintent %s, diff %s\n\n%s\n\n", code(p.Path), code(p.IntentID), code(p.DiffHash), fence("diff", strings.TrimRight(p.Diff, "\n")))
		}
	}
	if len(rp.Commits) > 0 {
		w("\n## Commits\n\n")
		for _, c := range rp.Commits {
			w("- `%s` on `%s`\n", c.SHA, c.Branch) // ours: a sha and a branch name
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
	w("\n## Rollback guide\n\n%s\n", fence("sh", strings.Join(rp.Rollback, "\n")))
	w("\nReviewPack hash: %s\n", code(rp.Hash))
	return b.String()
}

// lineBreaks are what Markdown (or a renderer) may treat as a new line.
var lineBreaks = strings.NewReplacer("\r\n", " ⏎ ", "\n", " ⏎ ", "\r", " ⏎ ", "\u2028", " ⏎ ", "\u2029", " ⏎ ", "\u0085", " ⏎ ", "\f", " ", "\v", " ")

// code renders s as one inert inline code span: on one line, its fence a
// run of backticks longer than any inside it, padded so a leading or
// trailing backtick stays content. Inside a code span nothing is Markdown:
// no emphasis, link, autolink or HTML.
func code(s string) string {
	s = lineBreaks.Replace(s)
	if s == "" {
		return "` `"
	}
	f := strings.Repeat("`", longestRun(s, '`')+1)
	if s[0] == '`' || s[len(s)-1] == '`' || (s[0] == ' ' && s[len(s)-1] == ' ') {
		s = " " + s + " " // CommonMark strips one space from each side
	}
	return f + s + f
}

// cell is code for a table cell, where GFM splits on | even in code spans.
func cell(s string) string { return strings.ReplaceAll(code(s), "|", `\|`) }

// codes renders each element of ss as a code span, comma separated.
func codes(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = code(s)
	}
	return strings.Join(out, ", ")
}

// fence wraps multi-line text in a fenced code block whose fence is longer
// than any backtick or tilde run inside, so the text cannot close it.
func fence(info, body string) string {
	n := max(3, longestRun(body, '`')+1)
	f := strings.Repeat("`", n)
	return f + info + "\n" + body + "\n" + f
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// stepCount is the number of plan steps a run's records cover (every step
// has a plan record): verify checks are recorded after them.
func stepCount(recs []agentos.StepRecord) int {
	n := 0
	for _, r := range recs {
		if r.Phase == agentos.PhasePlan && r.Index+1 > n {
			n = r.Index + 1
		}
	}
	return n
}

// recordLabel numbers a record the way progress and errors do: "step 2",
// "check 1" (a check's stored index counts after the steps).
func recordLabel(r agentos.StepRecord, steps int) string {
	switch {
	case r.Kind == "check":
		return fmt.Sprintf("check %d", r.Index-steps+1)
	case r.Index < 0:
		return r.Kind
	}
	return fmt.Sprintf("step %d", r.Index+1)
}

// usd renders micro-dollars as dollars.
func usd(micro int64) string {
	s := strings.TrimRight(fmt.Sprintf("%.6f", float64(micro)/1e6), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return "$" + s
}
