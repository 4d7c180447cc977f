package coordinator

import (
	"context"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/attest"
)

// Trace is a commit resolved back to its records (red line 7).
type Trace struct {
	Commit   string            `json:"commit"`
	Trailers map[string]string `json:"trailers"`
	Task     *agentos.Task     `json:"task"`
	Run      string            `json:"run"`
	Plan     string            `json:"plan"`
	PlanID   string            `json:"plan_id"`
	Intent   string            `json:"intent"`
	Goal     string            `json:"goal"`
	DiffHash string            `json:"diff_hash"` // recomputed now
	Kind     string            `json:"kind"`
	Checks   []TraceCheck      `json:"checks"`
	OK       bool              `json:"ok"`
	// Attestation is the commit's verified in-toto statement (TraceVerify).
	Attestation *attest.Statement `json:"attestation,omitempty"`
}

// TraceCheck is one comparison trace made.
type TraceCheck struct {
	What string `json:"what"`
	OK   bool   `json:"ok"`
	Got  string `json:"got,omitempty"`
	Want string `json:"want,omitempty"`
}

// TraceCommit resolves a commit's trailers to the task, run, plan and intent
// records and checks that the commit's diff still hashes to its trailer and
// to the recorded hash.
func (c *Coordinator) TraceCommit(ctx context.Context, rev string) (*Trace, error) {
	sha, err := c.Repo.ResolveCommit(ctx, rev)
	if err != nil {
		return nil, err
	}
	tr, err := c.Repo.Trailers(ctx, sha)
	if err != nil {
		return nil, err
	}
	if tr[agentos.TrailerTask] == "" {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "commit %s has no AgentOS trailers: it was not made by AgentOS", short(sha))
	}
	out := &Trace{Commit: sha, Trailers: tr, Run: tr[agentos.TrailerRun], Plan: tr[agentos.TrailerPlan], Intent: tr[agentos.TrailerIntent], OK: true, Checks: []TraceCheck{}}
	check := func(what string, ok bool, got, want string) {
		out.Checks = append(out.Checks, TraceCheck{What: what, OK: ok, Got: got, Want: want})
		if !ok {
			out.OK = false
		}
	}
	t, err := c.DB.Task(ctx, tr[agentos.TrailerTask])
	check("task "+tr[agentos.TrailerTask]+" is recorded", err == nil, "", "")
	if err == nil {
		out.Task = t
		out.Goal = t.Goal
	}
	row, err := c.DB.Commit(ctx, sha)
	check("commit is recorded", err == nil, "", "")
	if row != nil {
		out.Kind = row.Kind
		check("recorded task matches", row.Task == tr[agentos.TrailerTask], row.Task, tr[agentos.TrailerTask])
		check("recorded run matches", row.Run == out.Run, row.Run, out.Run)
		check("recorded plan hash matches", row.PlanHash == out.Plan, row.PlanHash, out.Plan)
		check("recorded intent matches", row.IntentID == out.Intent, row.IntentID, out.Intent)
	}
	_, err = c.DB.Run(ctx, out.Run)
	check("run "+out.Run+" is recorded", err == nil, "", "")
	if t != nil {
		found := false
		if plans, err := c.DB.PlansOf(ctx, t.ID); err == nil {
			for _, p := range plans {
				if p[1] != out.Plan {
					continue
				}
				found = true
				out.PlanID = p[0]
				if pl, stored, err := c.DB.Plan(ctx, p[0]); err == nil {
					got := pl.ComputeHash()
					check("stored plan still hashes to the trailer", got == stored && stored == out.Plan, got, out.Plan)
				}
			}
		}
		check("plan is recorded for the task", found, "", out.Plan)
	}
	_, err = c.DB.Intent(ctx, out.Intent)
	check("intent "+out.Intent+" is recorded", err == nil, "", "")
	parent, err := c.Repo.Parent(ctx, sha)
	if err != nil {
		return nil, err
	}
	dh, err := c.Repo.DiffHash(ctx, parent, sha)
	if err != nil {
		return nil, err
	}
	out.DiffHash = dh
	check("diff hashes to the AgentOS-Diff trailer", dh == tr[agentos.TrailerDiff], dh, tr[agentos.TrailerDiff])
	if row != nil {
		check("diff hashes to the recorded diff hash", dh == row.DiffHash, dh, row.DiffHash)
	}
	return out, nil
}

// TraceVerify is TraceCommit plus the commit's evidence outside the store:
// its attestation note (signature by the audit key, subject, and the
// predicate against the store's plan, policy, approvals and audit chain) and
// its commit signature when signing is configured.
func (c *Coordinator) TraceVerify(ctx context.Context, rev string) (*Trace, error) {
	tr, err := c.TraceCommit(ctx, rev)
	if err != nil {
		return nil, err
	}
	c.verifyAttestation(ctx, tr, func(what string, ok bool, got, want string) {
		tr.Checks = append(tr.Checks, TraceCheck{What: what, OK: ok, Got: got, Want: want})
		if !ok {
			tr.OK = false
		}
	})
	return tr, nil
}

// FirstFailure is the first check that failed, "" when all passed.
func (t *Trace) FirstFailure() string {
	for _, ch := range t.Checks {
		if ch.OK {
			continue
		}
		switch {
		case ch.Want != "":
			return fmt.Sprintf("%s (got %s, want %s)", ch.What, ch.Got, ch.Want)
		case ch.Got != "":
			return fmt.Sprintf("%s: %s", ch.What, ch.Got)
		}
		return ch.What
	}
	return ""
}

// VerifyCommits re-hashes every recorded commit that is still in the
// repository and compares it with its trailer and record; it returns how many
// were checked and the failures.
func (c *Coordinator) VerifyCommits(ctx context.Context) (int, []string, error) {
	recorded, err := c.DB.Commits(ctx)
	if err != nil {
		return 0, nil, err
	}
	var shas []string
	for _, r := range recorded {
		shas = append(shas, r.SHA)
	}
	// Commits on the target branch that carry AgentOS trailers are checked
	// too: a forged or amended commit reusing trailers is not in the records.
	seen := map[string]bool{}
	for _, s := range shas {
		seen[s] = true
	}
	if target := c.Config.Target; target != "" {
		if onTarget, err := c.Repo.TaskCommits(ctx, target); err == nil {
			for _, sha := range onTarget {
				if !seen[sha] {
					seen[sha] = true
					shas = append(shas, sha)
				}
			}
		}
	}
	n := 0
	var bad []string
	for _, sha := range shas {
		if _, err := c.Repo.ResolveCommit(ctx, sha); err != nil {
			continue // a commit that never landed and was discarded with its branch
		}
		tr, err := c.TraceCommit(ctx, sha)
		if err != nil {
			bad = append(bad, short(sha)+": "+agentos.ErrorMessage(err))
			continue
		}
		n++
		for _, ch := range tr.Checks {
			if !ch.OK {
				bad = append(bad, sha[:12]+": "+ch.What+" failed")
			}
		}
	}
	return n, bad, nil
}
