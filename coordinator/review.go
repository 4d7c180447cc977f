package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/review"
)

// ReviewPath returns where a run's ReviewPack files are written.
func (c *Coordinator) ReviewPath(task, run string) string {
	if run == "" {
		run = "plan"
	}
	return filepath.Join(c.StateDir, "reviews", task+"-"+run)
}

// writeReview assembles and stores the ReviewPack of a task's latest run
// (run may be nil when the task ended before a run started), as JSON and
// Markdown, in the store and under .agentos/reviews/.
func (c *Coordinator) writeReview(ctx context.Context, t *agentos.Task, run *agentos.Run) (*agentos.ReviewPack, error) {
	rp := &agentos.ReviewPack{
		Version: agentos.DocVersion, Task: t.ID, Outcome: t.State, Reason: t.Reason, Mode: t.Mode,
		Request: t.Request, Goal: t.Goal, Target: t.Target, PlanHash: t.PlanHash,
		Gates: []agentos.GateDecision{}, Records: []agentos.StepRecord{}, Patches: []agentos.PatchRecord{}, Commits: []agentos.CommitRecord{},
		CreatedAt: c.Now().UTC(),
	}
	worktree := ""
	if run != nil {
		rp.Run = run.ID
		rp.Unconfined = run.Unconfined
		if _, err := os.Stat(run.Worktree); err == nil {
			worktree = run.Worktree
		}
	}
	if t.PlanID != "" {
		// Without its bodies: a ReviewPack names the plan's base and
		// assumptions, and reading a large write again here would add it
		// to the end of a run.
		if p, _, err := c.DB.PlanWithoutBodies(ctx, t.PlanID); err == nil {
			rp.BaseCommit = p.BaseCommit
			rp.Assumptions = p.Assumptions
			if len(p.Verify) == 0 {
				rp.Unverified = "the plan has no verify check: nothing but each step's own postcondition checks the change"
			}
			if m, err := c.DB.MemoryPackByHash(ctx, t.ID, p.MemoryPackHash); err == nil {
				rp.MemoryPack = m
			}
		}
	}
	if rp.MemoryPack == nil {
		if m, err := c.DB.LatestMemoryPack(ctx, t.ID); err == nil {
			rp.MemoryPack = m
		}
	}
	if t.IntentID != "" {
		if in, err := c.DB.Intent(ctx, t.IntentID); err == nil {
			rp.Intent = in
		}
	}
	if qp, err := c.DB.LatestQuestionPack(ctx, t.ID); err == nil {
		rp.Questions = qp
	}
	if aps, err := c.DB.AnswerPacks(ctx, t.ID); err == nil {
		rp.Answers = aps
	}
	rp.Decisions = c.decisions(ctx, t.ID)
	rp.Spend = c.spend(ctx, t)
	if t.PlanHash != "" {
		if ds, err := c.DB.GateDecisions(ctx, t.ID, t.PlanHash); err == nil {
			rp.Gates = ds
		}
	}
	if ids, err := c.DB.RunsOf(ctx, t.ID); err == nil && len(ids) > 1 {
		for _, id := range ids {
			if r, err := c.DB.Run(ctx, id); err == nil {
				a := *r
				a.Worktree = "" // a path of this machine, not part of the record
				rp.Attempts = append(rp.Attempts, a)
			}
		}
	}
	if run != nil {
		if recs, err := c.DB.Records(ctx, run.ID); err == nil && recs != nil {
			rp.Records = recs
			rp.Attestation = attestationOf(recs) // attest.go
		}
		if ps, err := c.DB.Patches(ctx, run.ID); err == nil && ps != nil {
			rp.Patches = ps
		}
	}
	if cs, err := c.DB.CommitsOf(ctx, t.ID); err == nil {
		for _, cr := range cs {
			if run != nil && cr.Run != run.ID && cr.Kind == "change" {
				continue
			}
			branch := cr.Branch
			if cr.SHA == t.Commit || cr.Kind == "rollback" {
				if head, err := c.Repo.BranchHead(ctx, t.Target); err == nil && c.Repo.IsAncestor(ctx, cr.SHA, head) {
					branch = t.Target
				}
			}
			rp.Commits = append(rp.Commits, agentos.CommitRecord{SHA: cr.SHA, Branch: branch, Trailers: cr.Trailers})
		}
	}
	if run != nil {
		if evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: t.ID, Kind: agentos.EventCommandRule}); err == nil {
			for _, e := range evs {
				if e.Run != run.ID {
					continue
				}
				var d agentos.CommandRuleEvent
				if json.Unmarshal(e.Data, &d) == nil {
					rp.Commands = append(rp.Commands, agentos.CommandDecision{RuleID: d.Rule, Decision: d.Decision, Argv: d.Argv, Reason: d.Reason})
				}
			}
		}
	}
	rp.Rollback = review.RollbackGuide(rp, worktree)
	if worktree != "" && isLayer(worktree) {
		// A copy-on-write worktree is the run's change alone, not a git
		// checkout: say how to read it.
		var guide []string
		for _, line := range rp.Rollback {
			if strings.HasPrefix(line, "cd "+worktree+" && git status") {
				base := rp.BaseCommit
				if b := c.layerBase(t.ID); b != "" {
					base = b // after a rebase, the layer lies over the new head
				}
				guide = append(guide, inspectHint(t.ID, worktree, base)...)
				continue
			}
			guide = append(guide, line)
		}
		rp.Rollback = guide
	}
	if evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: t.ID}); err == nil && len(evs) > 0 {
		rp.AuditFrom = evs[0].Seq
		rp.AuditTo = evs[len(evs)-1].Seq
		plannerRecords(rp, evs) // nl.go
	}
	// The review event itself is appended next; the head recorded is the
	// chain as it stood when the pack was assembled.
	_, rp.ChainHead, _ = c.DB.ChainHead(ctx)
	// Every field came through the redacting store; this is the backstop for
	// what was read from elsewhere (events, git), before the pack is hashed.
	if err := c.redactReview(rp); err != nil {
		return nil, err
	}
	rp.Hash = rp.ComputeHash()
	md := review.Markdown(rp)
	if err := c.DB.SaveReview(ctx, rp, md); err != nil {
		return nil, err
	}
	base := c.ReviewPath(t.ID, rp.Run)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return rp, err
	}
	js, err := canonjson.Marshal(rp)
	if err != nil {
		return rp, err
	}
	if err := writeFileAtomic(base+".json", append(js, '\n')); err != nil {
		return rp, err
	}
	if err := writeFileAtomic(base+".md", []byte(md)); err != nil {
		return rp, err
	}
	c.progress(ProgressEvent{Task: t.ID, Phase: "review", What: base + ".md", Done: true, OK: true})
	return rp, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// addObservation keeps what a failed run printed as an observation scoped
// to the paths involved: quoted, sourced to the task, run, step and
// command, authored by "output" (nobody vouched for it) and ranked below
// what people said. It becomes a lesson only when a person promotes it
// (`agentos memory promote ID --kind lesson`).
func (c *Coordinator) addObservation(ctx context.Context, t *agentos.Task, run *agentos.Run, runErr error) {
	if c.Memory == nil {
		return
	}
	var scope []string
	cmd, where := "", ""
	tailText := ""
	steps := 0
	if p, _, err := c.DB.PlanWithoutBodies(ctx, t.PlanID); err == nil {
		scope, steps = p.Paths(), len(p.Steps)
	}
	if recs, err := c.DB.Records(ctx, run.ID); err == nil {
		for _, r := range recs {
			if !r.OK && r.Phase != agentos.PhasePlan && r.Kind != KindAttestation {
				cmd = strings.Join(r.Argv, " ")
				if cmd == "" {
					cmd = r.Summary
				}
				where = fmt.Sprintf(" step %d", r.Index+1)
				if r.Kind == "check" { // verify checks are numbered after the steps
					where = fmt.Sprintf(" verify check %d", r.Index-steps+1)
				}
				tailText = tail(strings.TrimSpace(r.OutputTail), 400)
				break
			}
		}
	}
	if scope == nil {
		scope = []string{}
	}
	// The failure reason and the output both carry text a command (or a
	// model) chose; all of it is quoted.
	body := "failed: " + agentos.ErrorMessage(runErr)
	if tailText != "" {
		body += "\noutput: " + tailText
	}
	from := fmt.Sprintf("task %s run %s%s", t.ID, run.ID, where)
	if cmd != "" {
		from += fmt.Sprintf(" (%s)", oneLineOf(cmd, 120))
	}
	c.remember(ctx, agentos.MemoryItem{Kind: agentos.MemoryObservation, Text: memory.Quote(from, body), Scope: scope, Tags: []string{"failed-run"},
		Source: fmt.Sprintf("task %s run %s%s", t.ID, run.ID, where), Author: ObservationAuthor, Confidence: 0.3})
}

// ObservationAuthor is the author of memory AgentOS took from command output.
const ObservationAuthor = "output"

func oneLineOf(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// redactReview redacts every string of a ReviewPack in place.
func (c *Coordinator) redactReview(rp *agentos.ReviewPack) error {
	b, err := json.Marshal(rp)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if b, err = json.Marshal(redactValue(v, c.redact)); err != nil {
		return err
	}
	var out agentos.ReviewPack
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	*rp = out
	return nil
}

func redactValue(v any, r func(string) string) any {
	switch x := v.(type) {
	case string:
		return r(x)
	case []any:
		for i := range x {
			x[i] = redactValue(x[i], r)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = redactValue(e, r)
		}
	}
	return v
}

// decisions are the people's approvals, rejections and answers of task, as
// their audit events record them (signed by which key, or unsigned).
func (c *Coordinator) decisions(ctx context.Context, task string) []agentos.DecisionRecord {
	var out []agentos.DecisionRecord
	for _, kind := range []string{agentos.EventApproval, agentos.EventAnswers} {
		evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task, Kind: kind})
		if err != nil {
			continue
		}
		for _, e := range evs {
			r := agentos.DecisionRecord{Seq: e.Seq, Actor: e.Actor, Time: e.Time}
			var signed *agentos.SignedStatement
			if kind == agentos.EventApproval {
				var d agentos.ApprovalEvent
				if json.Unmarshal(e.Data, &d) != nil {
					continue
				}
				r.Decision, r.PlanHash, r.OSUser, signed = string(d.Decision), d.PlanHash, d.OSUser, d.Signed
			} else {
				var d agentos.AnswersEvent
				if json.Unmarshal(e.Data, &d) != nil || d.OSUser == "" {
					continue // answers given with the run (--set, prompts), not by `agentos answer`
				}
				r.Decision, r.OSUser, signed = "answer", d.OSUser, d.Signed
			}
			if signed != nil {
				r.Key = signed.Key
			} else {
				r.Unsigned = true
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b agentos.DecisionRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
