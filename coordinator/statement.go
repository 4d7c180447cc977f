package coordinator

import (
	"context"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/canonjson"
)

// DecisionStatement is the statement signer signs to approve or reject
// (kind) the task's current plan now, built as Approve and Reject build it:
// for a person who signs it elsewhere (the HTTP API hands it out, the
// signature comes back with the decision). planHash "" names the current
// plan; another hash than the current one is ECONFLICT.
func (c *Coordinator) DecisionStatement(ctx context.Context, taskID, planHash string, kind approval.Kind, signer agentos.Actor, comment string) (approval.Statement, error) {
	req, err := c.decisionRequest(ctx, taskID, planHash, approval.Identity{Actor: signer}, kind, comment)
	if err != nil {
		return approval.Statement{}, err
	}
	if planHash != "" && planHash != req.Plan.Hash {
		return approval.Statement{}, agentos.Errorf(agentos.ECONFLICT, "task %s's plan is %s, not %s: review the current plan", req.Task.ID, req.Plan.Hash, planHash)
	}
	return req.Unsigned(kind, signer, c.Now()), nil
}

// AnswerStatement is the statement signer signs to give ap to the task's
// current QuestionPack, as Answer builds it.
func (c *Coordinator) AnswerStatement(ctx context.Context, taskID string, ap agentos.AnswerPack, signer agentos.Actor) (approval.Statement, error) {
	// Refused before a person signs what Answer would refuse.
	if err := c.checkAnswerPack(ap); err != nil {
		return approval.Statement{}, err
	}
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return approval.Statement{}, err
	}
	if t.State != agentos.StateBlocked {
		return approval.Statement{}, agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not blocked: there is nothing to answer", t.ID, t.State)
	}
	qp, err := c.DB.LatestQuestionPack(ctx, t.ID)
	if err != nil {
		return approval.Statement{}, err
	}
	st := c.answerStatement(t, qp, ap)
	st.Type, st.Signer, st.Time = approval.StatementType, signer, c.Now().UTC().Format(time.RFC3339)
	return st, nil
}

// answerStatement is what a person's answers state (Identity.SignStatement
// adds the type, the signer and the time).
func (c *Coordinator) answerStatement(t *agentos.Task, qp *agentos.QuestionPack, ap agentos.AnswerPack) approval.Statement {
	return approval.Statement{Decision: "answer", Task: t.ID, Plan: t.PlanID, PlanHash: t.PlanHash,
		PolicyHash: c.Config.Hash, Questions: qp.Hash, Answers: canonjson.MustDigest(ap.Answers)}
}
