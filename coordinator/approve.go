package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/canonjson"
)

// requireApproval parks a task in awaiting_approval and says who must approve
// which plan hash.
func (c *Coordinator) requireApproval(ctx context.Context, t *agentos.Task, p *agentos.Plan, ds []agentos.GateDecision) error {
	res, err := c.gateResult(ctx, t, p)
	if err != nil {
		return err
	}
	reason := "needs approval: " + gateReasons(ds, agentos.EffectRequireApproval)
	if who := describeRequirements(res.Requirements); who != "" {
		reason += " [" + who + "]"
	}
	if _, err := c.transition(ctx, t, agentos.StateAwaitingApproval, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Requirements: auditRequirements(res.Requirements)}); err != nil {
		return err
	}
	return agentos.Errorf(agentos.EAWAITINGAPPROVAL, "task %s %s; approve with `agentos approve %s --plan %s`", t.ID, reason, t.ID, t.PlanHash)
}

func describeRequirements(reqs []approval.Requirement) string {
	var parts []string
	for _, r := range reqs {
		who := "any human"
		if len(r.Approvers) > 0 {
			var names []string
			for _, a := range r.Approvers {
				names = append(names, string(a))
			}
			who = strings.Join(names, ", ")
		}
		parts = append(parts, fmt.Sprintf("%s: %d of %s", r.RuleID, max(r.Approvals, 1), who))
	}
	return strings.Join(parts, "; ")
}

// checkApproval is admission's approval check: a plan whose gates require
// approval may run only with enough fresh approvals of exactly this plan,
// bound to the current base, policy and memory. A stale approval sends the
// task back to awaiting_approval (EAWAITINGAPPROVAL, with the conflict as
// cause) so that it can be re-approved.
func (c *Coordinator) checkApproval(ctx context.Context, t *agentos.Task, p *agentos.Plan, pack *agentos.MemoryPack) error {
	res, err := c.gateResult(ctx, t, p)
	if err != nil {
		return err
	}
	stored, err := c.DB.GateDecisions(ctx, t.ID, p.Hash)
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return agentos.Errorf(agentos.EDENIED, "plan %s of task %s was never gated: refusing to apply; run `agentos apply %s`", p.Hash, t.ID, t.ID)
	}
	for _, d := range stored {
		if d.Effect == agentos.EffectDeny {
			return agentos.Errorf(agentos.EDENIED, "plan %s was denied by gate %s: %s", p.Hash, d.RuleID, d.Reason)
		}
	}
	switch res.Effect {
	case agentos.EffectDeny:
		return agentos.Errorf(agentos.EDENIED, "plan %s is denied by the policy: %s", p.Hash, gateReasons(res.Decisions, agentos.EffectDeny))
	case agentos.EffectAllow:
		return nil
	}
	if t.Mode == agentos.ModeFullAuto && res.AutoApproved {
		return nil // the covering standing rules were recorded when the plan was gated
	}
	cur, err := c.currentBinding(ctx, t, p, pack)
	if err != nil {
		return err
	}
	ev, err := c.approvalEvidence(ctx, t, p)
	if err != nil {
		return err
	}
	err = approval.Check(ctx, c.DB, *t, *p, res.Requirements, cur, ev)
	if errors.Is(err, approval.ErrPolicyChanged) {
		return err // a policy change needs a re-plan, not a re-approval
	}
	if agentos.ErrorCode(err) == agentos.ECONFLICT {
		return &agentos.Error{Code: agentos.EAWAITINGAPPROVAL, Message: agentos.ErrorMessage(err), Err: err}
	}
	return err
}

// currentBinding is what an approval made now is bound to: the target
// branch's head, the policy hash, and the digest of the memory the plan's
// query selects today (so a memory edit after approval is noticed).
func (c *Coordinator) currentBinding(ctx context.Context, t *agentos.Task, p *agentos.Plan, pack *agentos.MemoryPack) (approval.Binding, error) {
	target := p.Target
	if target == "" {
		target = t.Target
	}
	head, err := c.targetHead(ctx, target)
	if err != nil {
		return approval.Binding{}, agentos.WrapError(agentos.ECONFLICT, err, "cannot read the head of %s: %v", target, err)
	}
	if pack == nil {
		if pack, err = c.DB.MemoryPackByHash(ctx, t.ID, p.MemoryPackHash); err != nil {
			return approval.Binding{}, agentos.WrapError(agentos.EDENIED, err, "the MemoryPack %s pinned by plan %s is missing (red line 1): re-plan the task", p.MemoryPackHash, p.ID)
		}
	}
	mem := memoryDigest(pack.Query, pack.Items)
	if c.Memory != nil {
		now, err := c.Memory.BuildPack(ctx, t.ID, pack.Query)
		if err != nil {
			return approval.Binding{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot rebuild the MemoryPack to check it is unchanged: %v", err)
		}
		if now.Items == nil {
			now.Items = []agentos.PackedItem{}
		}
		mem = memoryDigest(pack.Query, now.Items)
	}
	return approval.Binding{Base: head, PolicyHash: c.Config.Hash, MemoryHash: mem}, nil
}

// memoryDigest hashes what a MemoryPack says (query and items), not its id.
func memoryDigest(q agentos.MemoryQuery, items []agentos.PackedItem) string {
	return canonjson.MustDigest(struct {
		Query agentos.MemoryQuery  `json:"query"`
		Items []agentos.PackedItem `json:"items"`
	}{q, items})
}

// approvalEvidence is what decides which recorded approvals of t count
// beyond their audit events (which package approval reads itself): the
// signers of the policy in force and the plan's authors (four eyes).
func (c *Coordinator) approvalEvidence(ctx context.Context, t *agentos.Task, p *agentos.Plan) (*approval.Evidence, error) {
	keys, err := c.Config.Keyring()
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err)
	}
	author, err := c.planAuthor(ctx, t, p)
	if err != nil {
		return nil, err
	}
	authors := []agentos.Actor{t.Submitter}
	if author.IsHuman() && author != t.Submitter {
		authors = append(authors, author)
	}
	return &approval.Evidence{Keys: keys, Authors: authors, FourEyes: c.Config.FourEyes()}, nil
}

// planAuthor is the actor that stored the plan (its plan.stored event).
func (c *Coordinator) planAuthor(ctx context.Context, t *agentos.Task, p *agentos.Plan) (agentos.Actor, error) {
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: t.ID, Kind: agentos.EventPlanStored})
	if err != nil {
		return "", err
	}
	for _, e := range evs {
		var d agentos.PlanStoredEvent
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return "", agentos.WrapError(agentos.EINTERNAL, err, "audit event %d (%s) does not decode: %v; run `agentos audit verify`", e.Seq, e.Kind, err)
		}
		if d.Plan == p.ID && d.Hash == p.Hash {
			return e.Actor, nil
		}
	}
	return "", nil
}

// ApproveResult is what `agentos approve` reports.
type ApproveResult struct {
	Task    *agentos.Task    `json:"task"`
	Status  approval.Status  `json:"status"`
	Binding approval.Binding `json:"binding"`
	// Applied is set when this approval completed the requirements and the
	// task was applied (a foreground `run` that stopped for approval; it
	// still passed the scheduler).
	Applied bool `json:"applied"`
	// Queued is set when this approval completed the requirements and the
	// task waits in the queue for a worker (or `agentos apply`): a task
	// that was submitted, planned alone, or held by the scheduler.
	Queued bool `json:"queued"`
}

// decisionRequest builds the approval request for the task's current plan.
func (c *Coordinator) decisionRequest(ctx context.Context, taskID, planHash string, who approval.Identity, kind approval.Kind, comment string) (approval.Request, error) {
	// Approve, Reject and the statements a person signs all pass here,
	// before anything is signed, stored or audited.
	what := "the approval comment"
	if kind == approval.KindReject {
		what = "the rejection reason"
	}
	if err := c.checkComment(what, comment); err != nil {
		return approval.Request{}, err
	}
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return approval.Request{}, err
	}
	if t.PlanID == "" {
		return approval.Request{}, agentos.Errorf(agentos.ECONFLICT, "task %s has no plan to decide on (it is %s)", t.ID, t.State)
	}
	p, _, err := c.DB.Plan(ctx, t.PlanID)
	if err != nil {
		return approval.Request{}, err
	}
	res, err := c.gateResult(ctx, t, p)
	if err != nil {
		return approval.Request{}, err
	}
	author, err := c.planAuthor(ctx, t, p)
	if err != nil {
		return approval.Request{}, err
	}
	cur, err := c.currentBinding(ctx, t, p, nil)
	if err != nil {
		return approval.Request{}, err
	}
	ev, err := c.approvalEvidence(ctx, t, p)
	if err != nil {
		return approval.Request{}, err
	}
	return approval.Request{Task: *t, Plan: *p, Given: planHash, Who: who, Author: author, Comment: c.redact(comment), Current: cur,
		Requirements: res.Requirements, Evidence: ev, Now: c.Now()}, nil
}

// Approve records actor's approval of the task's current plan, which the
// human names by hash, and audits it. Once every rule's approvals are there
// (N of M, distinct humans, fresh), the task is queued; until then it stays
// in awaiting_approval and the error (EAWAITINGAPPROVAL) says what is
// missing. Only a task from a foreground `run` (auto_apply) is then applied
// here, and only through the scheduler (Apply -> Schedule, red line 10): a
// submitted or merely planned task waits in the queue for a worker or an
// explicit `agentos apply`.
//
// who is the approver: a listed person whose key signs, or (no signers in
// the policy) the OS user, recorded unsigned.
func (c *Coordinator) Approve(ctx context.Context, taskID, planHash string, who approval.Identity, comment string) (*ApproveResult, error) {
	actor := who.Actor
	req, err := c.decisionRequest(ctx, taskID, planHash, who, approval.KindApprove, comment)
	if err != nil {
		return nil, err
	}
	// The approval row and its audit event are one transaction.
	st, err := approval.NewStore(c.DB).Approve(ctx, req)
	if err != nil {
		return nil, err
	}
	t := &req.Task
	out := &ApproveResult{Task: t, Status: st, Binding: req.Current}
	if !st.Satisfied {
		return out, agentos.Errorf(agentos.EAWAITINGAPPROVAL, "approval by %s recorded; plan %s still needs %s: `agentos approve %s --plan %s`", actor, req.Plan.Hash, st.Needs(), t.ID, req.Plan.Hash)
	}
	if _, err := c.transition(ctx, t, agentos.StateQueued, actor, agentos.TaskUpdate{Reason: agentos.Str("")}, agentos.TransitionDetail{Approved: req.Plan.Hash}); err != nil {
		if agentos.ErrorCode(err) == agentos.ECONFLICT {
			// Another approval completed the set at the same moment and is applying it.
			return out, agentos.WrapError(agentos.ECONFLICT, err, "approval by %s recorded; task %s was moved on concurrently (see `agentos task show %s`)", actor, t.ID, t.ID)
		}
		return out, err
	}
	if !t.AutoApply {
		out.Queued = true
		return out, nil
	}
	nt, err := c.Apply(ctx, t.ID, actor)
	if nt != nil {
		out.Task = nt
	}
	if agentos.ErrorCode(err) == agentos.EHELD {
		out.Queued = true // the scheduler kept it queued
		return out, err
	}
	out.Applied = true
	return out, err
}

// Reject records actor's rejection of the task's current plan with a reason,
// audits it, and ends the task in rejected with a ReviewPack.
func (c *Coordinator) Reject(ctx context.Context, taskID, planHash string, who approval.Identity, reason string) (*agentos.Task, error) {
	actor := who.Actor
	req, err := c.decisionRequest(ctx, taskID, planHash, who, approval.KindReject, reason)
	if err != nil {
		return nil, err
	}
	if req.Given == "" {
		req.Given = req.Plan.Hash // reject needs no hash: refusing the wrong plan cannot run anything
	}
	if err := approval.NewStore(c.DB).Reject(ctx, req); err != nil {
		return nil, err
	}
	t := &req.Task
	msg := fmt.Sprintf("rejected by %s: %s", actor, req.Comment)
	if _, err := c.transition(ctx, t, agentos.StateRejected, actor, agentos.TaskUpdate{Reason: &msg}, agentos.TransitionDetail{
		Decision: string(agentos.KindReject), PlanHash: req.Plan.Hash, Binding: &req.Current,
	}); err != nil {
		return t, err
	}
	if _, err := c.writeReview(ctx, t, nil); err != nil {
		return t, err
	}
	return t, nil
}
