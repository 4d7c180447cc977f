package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/planfile"
)

// A rollback is a plan like any other. `agentos rollback TASK` creates a new
// task (planner "rollback", labels "rollback" and "rollback-of:TASK", goal
// `Revert "<goal>"`) whose plan is the revert of TASK's commit on the target
// head as hashed patch steps, verified by TASK's own verify checks (or the
// policy's verify.default when it had none), with a
// MemoryPack; the task then goes through the gates, admission, the locks, the
// executor, the one commit path and integration like every plan. When its
// revert lands on the target, TASK moves committed -> rolled_back, audited
// on TASK's chain, right after the rollback task's own commit transition.

// PlannerRollback is the planner of a rollback task. Only Rollback creates
// tasks with it (a plan file or a request cannot choose its planner), which
// is why integration may trust such a task's plan to name the task it reverts.
const PlannerRollback = "rollback"

// LabelRollback marks every rollback task, for listings and scheduler rules;
// labelRollbackOf+ID names the task it reverts, for people.
const (
	LabelRollback   = "rollback"
	labelRollbackOf = "rollback-of:"
)

// Plan params of a rollback plan (hashed with the plan): what it reverts.
const (
	paramRollbackOf = "rollback_of"
	paramReverts    = "reverts"
)

// Stages of an EventRollback on the rolled-back task's chain.
const (
	rollbackRequested = "requested" // a rollback task was created for it
	rollbackRefused   = "refused"   // the revert conflicts with later commits
	rollbackLanded    = "landed"    // the revert is on the target: rolled_back
)

// RollbackEvent is the payload of an EventRollback, always on the task
// being rolled back.
type RollbackEvent = agentos.RollbackEvent

// RollbackResult is what `agentos rollback` reports.
type RollbackResult struct {
	Task     *agentos.Task `json:"task"`          // the task rolled back
	Rollback *agentos.Task `json:"rollback_task"` // the task carrying the revert
	Revert   string        `json:"revert"`        // the revert commit, once on the target
}

// Rollback reverts a committed task's commit on its target branch through a
// new rollback task that runs the whole pipeline. It refuses, changing
// nothing on the target, when later commits changed the same lines; a revert
// whose checks fail does not land either. Either way the rollback task ends
// failed with a ReviewPack saying why. When the gates want an approval the
// rollback task waits in awaiting_approval like any plan (EAWAITINGAPPROVAL);
// approving it lands the revert and rolls the task back.
func (c *Coordinator) Rollback(ctx context.Context, taskID string, actor agentos.Actor) (res *RollbackResult, err error) {
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	res = &RollbackResult{Task: t}
	if t.State != agentos.StateCommitted {
		return res, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: only a committed task can be rolled back", t.ID, t.State)
	}
	prior, err := c.rollbackTasks(ctx, t)
	if err != nil {
		return res, err
	}
	for _, rt := range prior {
		switch {
		case rt.State == agentos.StateCommitted:
			// Its revert committed but t was not marked (it waited on its
			// branch, or the process stopped in between): finish that one.
			res.Rollback = rt
			if err := c.recordRollback(ctx, t, rt); err != nil {
				return res, err
			}
			res.Revert = rt.Commit
			return res, nil
		case !rt.State.Terminal():
			res.Rollback = rt
			return res, agentos.Errorf(agentos.ECONFLICT, "task %s already has rollback task %s, which is %s: see `agentos task show %s` (approve it, or cancel it to start over)", t.ID, rt.ID, rt.State, rt.ID)
		}
	}
	head, err := c.Repo.BranchHead(ctx, t.Target)
	if err != nil {
		return res, err
	}
	if !c.Repo.IsAncestor(ctx, t.Commit, head) {
		return res, agentos.Errorf(agentos.ECONFLICT, "commit %s of task %s is not on %s: nothing to roll back there", short(t.Commit), t.ID, t.Target)
	}
	mode := agentos.ModeSemiAuto
	if c.Config.Modes.Default != "" {
		mode = agentos.Mode(c.Config.Modes.Default)
	}
	rt := &agentos.Task{
		ID: NewID("t"), Mode: mode, Goal: fmt.Sprintf("Revert %q", t.Goal), Planner: PlannerRollback,
		Request:   fmt.Sprintf("roll back task %s (commit %s on %s)", t.ID, t.Commit, t.Target),
		Submitter: actor, Labels: []string{LabelRollback, labelRollbackOf + t.ID}, Target: t.Target, AutoApply: true,
	}
	if err := c.DB.CreateTask(ctx, rt); err != nil {
		return res, err
	}
	res.Rollback = rt
	// From here on every end of the rollback task has a ReviewPack (red
	// line 5): planning ends through failPlanning, runs through finishRun,
	// and a panic anywhere in between through abandonRollback.
	defer func() {
		if p := recover(); p != nil {
			err = c.abandonRollback(context.WithoutCancel(ctx), rt, &agentos.Error{Code: agentos.EINTERNAL,
				Message: fmt.Sprintf("internal error during rollback task %s: %v (a bug: please report it; --debug shows the stack)", rt.ID, p),
				Err:     fmt.Errorf("panic: %v\n%s", p, debug.Stack())})
		}
		if nt, terr := c.DB.Task(context.WithoutCancel(ctx), t.ID); terr == nil {
			*t = *nt
		}
	}()
	// The link is on the original's chain, in the transaction that starts
	// the rollback task.
	if _, err := c.DB.Transition(ctx, rt.ID, agentos.StateCreated, agentos.StatePlanning, actor, agentos.TaskUpdate{}, agentos.TransitionDetail{RollbackOf: t.ID},
		agentos.EventInput{Task: t.ID, Actor: actor, Kind: agentos.EventRollback, Data: RollbackEvent{Stage: rollbackRequested, Task: rt.ID, Reverted: t.Commit}}); err != nil {
		return res, err
	}
	rt.State = agentos.StatePlanning
	if err := c.planRollback(ctx, rt, t, actor); err != nil {
		return res, err
	}
	_, err = c.Apply(ctx, rt.ID, actor)
	if nt, terr := c.DB.Task(context.WithoutCancel(ctx), rt.ID); terr == nil {
		*rt = *nt
	}
	if err != nil {
		switch agentos.ErrorCode(err) {
		case agentos.EAWAITINGAPPROVAL, agentos.EBLOCKED:
			return res, err // the same message any plan gives
		}
		return res, agentos.WrapError(agentos.ErrorCode(err), err, "rollback task %s of task %s: %s", rt.ID, t.ID, agentos.ErrorMessage(err))
	}
	if rt.State != agentos.StateCommitted {
		return res, agentos.Errorf(agentos.EFAILED, "rollback task %s of task %s is %s, not committed: see `agentos task show %s`", rt.ID, t.ID, rt.State, rt.ID)
	}
	if err := c.recordRollback(ctx, t, rt); err != nil {
		return res, err
	}
	res.Revert = rt.Commit
	return res, nil
}

// recordRollback makes sure t is rolled_back once rt's revert is on the
// target: integration already did it when the revert landed; when the
// revert waits on its branch (the target was checked out dirty) it says so.
func (c *Coordinator) recordRollback(ctx context.Context, t, rt *agentos.Task) error {
	if cur, err := c.DB.Task(ctx, t.ID); err == nil {
		*t = *cur
	}
	if t.State == agentos.StateRolledBack {
		return nil
	}
	head, err := c.Repo.BranchHead(ctx, t.Target)
	if err != nil {
		return err
	}
	if !c.Repo.IsAncestor(ctx, rt.Commit, head) {
		return agentos.Errorf(agentos.ECONFLICT, "the revert %s of task %s is committed on branch %s but not on %s yet (%s); task %s stays committed until it lands: then run `agentos rollback %s` again",
			short(rt.Commit), t.ID, branchOf(rt.ID), t.Target, orNone(rt.Reason), t.ID, t.ID)
	}
	return c.markRolledBack(ctx, t, rt, rt.RunID)
}

// rollbackLanded is integration's hook: right after a rollback task's revert
// landed on the target, the task it reverts moves to rolled_back. Whatever
// front door applied the rollback task (rollback, approve, the worker), this
// is where the original is marked.
func (c *Coordinator) rollbackLanded(ctx context.Context, rt *agentos.Task, p *agentos.Plan, run string) error {
	if rt.Planner != PlannerRollback {
		return nil
	}
	orig, err := c.DB.Task(ctx, p.Params[paramRollbackOf])
	if err != nil {
		return agentos.WrapError(agentos.ErrorCode(err), err, "the revert of rollback task %s landed, but the task it reverts (%q) cannot be read: %s", rt.ID, p.Params[paramRollbackOf], agentos.ErrorMessage(err))
	}
	// The link must be the one Rollback wrote on the original's own chain.
	linked, err := c.rollbackTasks(ctx, orig)
	if err != nil {
		return err
	}
	found := false
	for _, l := range linked {
		found = found || l.ID == rt.ID
	}
	if !found {
		return agentos.Errorf(agentos.EDENIED, "rollback task %s is not linked to task %s in the audit: task %s was not marked rolled_back", rt.ID, orig.ID, orig.ID)
	}
	if orig.State == agentos.StateRolledBack {
		return nil
	}
	return c.markRolledBack(ctx, orig, rt, run)
}

// markRolledBack moves t committed -> rolled_back; the transition and the
// landed EventRollback are one transaction.
func (c *Coordinator) markRolledBack(ctx context.Context, t, rt *agentos.Task, run string) error {
	reason := fmt.Sprintf("rolled back by task %s (revert %s), requested by %s", rt.ID, rt.Commit, rt.Submitter)
	nt, err := c.DB.Transition(ctx, t.ID, agentos.StateCommitted, agentos.StateRolledBack, rt.Submitter, agentos.TaskUpdate{Reason: &reason},
		agentos.TransitionDetail{RollbackTask: rt.ID, Revert: rt.Commit},
		agentos.EventInput{Task: t.ID, Run: run, Actor: rt.Submitter, Kind: agentos.EventRollback, Data: RollbackEvent{Stage: rollbackLanded, Task: rt.ID, Reverted: t.Commit, Commit: rt.Commit}})
	if err != nil {
		return agentos.WrapError(agentos.ErrorCode(err), err, "the revert %s of task %s landed, but marking it rolled_back failed: %s; run `agentos rollback %s` again to record it", short(rt.Commit), t.ID, agentos.ErrorMessage(err), t.ID)
	}
	*t = *nt
	return nil
}

// rollbackTasks returns the rollback tasks created for t, oldest first, from
// the requested events on t's chain.
func (c *Coordinator) rollbackTasks(ctx context.Context, t *agentos.Task) ([]*agentos.Task, error) {
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: t.ID, Kind: agentos.EventRollback})
	if err != nil {
		return nil, err
	}
	var out []*agentos.Task
	seen := map[string]bool{}
	for _, e := range evs {
		var d RollbackEvent
		if json.Unmarshal(e.Data, &d) != nil || d.Stage != rollbackRequested || d.Task == "" || seen[d.Task] {
			continue // events of older versions carry no stage
		}
		seen[d.Task] = true
		rt, err := c.DB.Task(ctx, d.Task)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return out, nil
}

// planRollback plans rollback task rt (in planning): the revert of orig's
// commit on the target's head as patch steps, checked by orig's verify
// checks. A revert that conflicts fails rt (the refusal is audited on orig);
// any other planning error fails it too. Both write its ReviewPack.
func (c *Coordinator) planRollback(ctx context.Context, rt, orig *agentos.Task, actor agentos.Actor) error {
	c.progress(ProgressEvent{Task: rt.ID, Phase: "plan", What: fmt.Sprintf("revert %s of task %s on %s", short(orig.Commit), orig.ID, orig.Target)})
	intent, p, conflicts, err := c.revertPlan(ctx, rt, orig)
	if len(conflicts) > 0 {
		msg := fmt.Sprintf("cannot roll back task %s: later commits on %s changed the same lines in %s; %s was left untouched — roll back the later tasks first, or revert by hand",
			orig.ID, orig.Target, strings.Join(conflicts, ", "), orig.Target)
		nt, terr := c.DB.Transition(ctx, rt.ID, rt.State, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &msg}, agentos.TransitionDetail{Phase: "plan", Conflicts: conflicts},
			agentos.EventInput{Task: orig.ID, Actor: actor, Kind: agentos.EventRollback, Data: RollbackEvent{Stage: rollbackRefused, Task: rt.ID, Reverted: orig.Commit, Conflicts: conflicts}})
		if terr != nil {
			return terr
		}
		*rt = *nt
		if _, err := c.writeReview(ctx, rt, nil); err != nil {
			return err
		}
		return agentos.Errorf(agentos.ECONFLICT, "%s (rollback task %s failed: `agentos review %s`)", msg, rt.ID, rt.ID)
	}
	if err != nil {
		_, err = c.failPlanning(ctx, rt, err)
		return err
	}
	if _, err := c.storePlan(ctx, rt, intent, p, nil, actor); err != nil {
		return err
	}
	if rt.State != agentos.StatePlanned {
		return agentos.Errorf(agentos.EFAILED, "rollback task %s was not planned (%s): see `agentos review %s`", rt.ID, rt.State, rt.ID)
	}
	return nil
}

// revertPlan computes the revert of orig's commit on the target's head from
// git's objects (git's three-way revert merge, so later commits that touched
// nearby lines do not stop it) and turns what it changed into patch steps
// that validateSteps checks like a plan file's. It returns the conflicting
// paths when the revert does not apply.
func (c *Coordinator) revertPlan(ctx context.Context, rt, orig *agentos.Task) (*agentos.Intent, *agentos.Plan, []string, error) {
	head, err := c.Repo.BranchHead(ctx, orig.Target)
	if err != nil {
		return nil, nil, nil, err
	}
	if !c.Repo.IsAncestor(ctx, orig.Commit, head) {
		return nil, nil, nil, agentos.Errorf(agentos.ECONFLICT, "commit %s of task %s is not on %s: nothing to roll back there", short(orig.Commit), orig.ID, orig.Target)
	}
	if orig.PlanID == "" {
		return nil, nil, nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has no plan: its verify checks are unknown, so it cannot be rolled back through a plan; revert it by hand", orig.ID)
	}
	origPlan, _, err := c.DB.Plan(ctx, orig.PlanID)
	if err != nil {
		return nil, nil, nil, err
	}
	// Computed from git's objects alone: no worktree or checkout, and
	// nothing written to the repository (the user's tree and index, refs
	// and objects are untouched).
	intentID := NewID("i")
	changes, conflicts, err := c.Repo.RevertSteps(ctx, orig.Commit, head, intentID)
	if err != nil {
		return nil, nil, nil, agentos.WrapError(agentos.EFAILED, err, "cannot revert commit %s: %v", short(orig.Commit), err)
	}
	if len(conflicts) > 0 {
		return nil, nil, conflicts, nil
	}
	if len(changes) == 0 {
		return nil, nil, nil, agentos.Errorf(agentos.ECONFLICT, "reverting commit %s on %s changes nothing: later commits already undid task %s's change", short(orig.Commit), orig.Target, orig.ID)
	}
	risk := "medium"
	if in, err := c.DB.Intent(ctx, orig.IntentID); err == nil && in.Risk != "" {
		risk = in.Risk // undoing a change is as risky as making it
	}
	r := &planfile.Rendered{}
	for i, s := range changes {
		r.Steps = append(r.Steps, planfile.RawStep{Line: i + 1, Kind: agentos.StepPatch, Fields: map[string]string{"diff": s.Diff}, Risk: risk,
			Rationale: fmt.Sprintf("revert task %s's change to %s (commit %s)", orig.ID, strings.Join(s.Paths, " -> "), short(orig.Commit))})
	}
	// The original plan's checks, re-resolved under today's policy and
	// re-run in the sandbox against the reverted tree.
	for i, ch := range origPlan.Verify {
		rc := planfile.RawCheck{Line: i + 1, Name: ch.Name, Argv: ch.Argv, Cwd: ch.Cwd}
		if ch.TimeoutMS > 0 {
			rc.Timeout = (time.Duration(ch.TimeoutMS) * time.Millisecond).String()
		}
		r.Verify = append(r.Verify, rc)
	}
	steps, checks, err := c.validateSteps(ctx, head, r, intentID)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(origPlan.Verify) > 0 {
		// Checks the policy once supplied to the original stay marked so.
		for i := range checks {
			checks[i].PolicyDefault = origPlan.Verify[i].PolicyDefault
		}
	}
	intent := &agentos.Intent{
		Version: agentos.DocVersion, ID: intentID, Task: rt.ID, Request: rt.Request, Goal: rt.Goal, Kind: "rollback",
		Constraints: []string{fmt.Sprintf("revert exactly commit %s of task %s; change nothing else", orig.Commit, orig.ID)},
		Acceptance:  []string{}, Assumptions: []string{}, Risk: risk, OpenQuestions: []agentos.Question{},
		Source: agentos.Source{Planner: PlannerRollback},
	}
	p := &agentos.Plan{
		Version: agentos.DocVersion, ID: NewID("p"), Task: rt.ID, IntentID: intentID, Goal: rt.Goal,
		BaseCommit: head, Target: orig.Target, PolicyHash: c.Config.Hash,
		Params: map[string]string{paramRollbackOf: orig.ID, paramReverts: orig.Commit},
		Steps:  steps, Verify: checks, Source: PlannerRollback,
	}
	if len(checks) == 0 {
		// Only when the policy allows unverified commits (validateSteps
		// refuses otherwise): say so, never invent a check.
		why := fmt.Sprintf("task %s's plan has no verify checks (and agentos.yaml has no default; verify.allow_unverified is true): this revert is UNVERIFIED beyond each patch's postcondition", orig.ID)
		p.Assumptions = []agentos.Assumption{{Question: "verify", Value: "none", Why: why}}
		intent.Assumptions = append(intent.Assumptions, why)
	}
	intent.Scope = p.Paths()
	for _, ch := range checks {
		intent.Acceptance = append(intent.Acceptance, acceptance(ch))
	}
	return intent, p, nil, nil
}

// abandonRollback ends a rollback task that a panic interrupted outside a
// run (a run's own panic is finishRun's): failed, with its ReviewPack.
func (c *Coordinator) abandonRollback(ctx context.Context, rt *agentos.Task, cause error) error {
	if cur, err := c.DB.Task(ctx, rt.ID); err == nil {
		*rt = *cur
	}
	if !rt.State.Terminal() {
		reason := agentos.ErrorMessage(cause)
		if _, err := c.transition(ctx, rt, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Phase: "rollback"}); err != nil {
			return fmt.Errorf("%w (and recording the failure failed: %v)", cause, err)
		}
	}
	var run *agentos.Run
	if rt.RunID != "" {
		if r, err := c.DB.Run(ctx, rt.RunID); err == nil {
			run = r
		}
	}
	if _, err := c.writeReview(ctx, rt, run); err != nil {
		return fmt.Errorf("%w (and writing its ReviewPack failed: %v)", cause, err)
	}
	return cause
}

// rollbackCommit says, for the one commit path, what kind of commit a plan
// makes and what its message adds: a rollback names the commit it reverts.
func rollbackCommit(t *agentos.Task, p *agentos.Plan) (kind, note string) {
	if t.Planner != PlannerRollback || p.Params[paramReverts] == "" {
		return "change", ""
	}
	return "rollback", fmt.Sprintf("\nThis reverts commit %s (task %s).", p.Params[paramReverts], p.Params[paramRollbackOf])
}
