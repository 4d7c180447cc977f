package coordinator

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/signers"
)

// budgetMeter is the meter of t's model calls by agent: the committed
// policy's budgets and prices, and the limits people raised for t.
func (c *Coordinator) budgetMeter(ctx context.Context, t *agentos.Task, agent agentos.Actor) (*budget.Meter, error) {
	raises, err := c.budgetRaises(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return &budget.Meter{Store: c.DB, Task: t.ID, Budgets: c.Config.Budgets, Prices: c.Config.Prices, Raises: raises, Actor: agent, Now: c.Now}, nil
}

// budgetRaises reads the limits people raised for task from its answers.
// An AnswerPack counts only with its answers.given event; when the policy
// lists signers, only with a signature by a listed person who may answer,
// over this task and these answers (an AnswerPack row added to the store
// behind AgentOS's back raises nothing).
func (c *Coordinator) budgetRaises(ctx context.Context, task string) (map[string]budget.Raise, error) {
	packs, err := c.DB.AnswerPacks(ctx, task)
	if err != nil || len(packs) == 0 {
		return nil, err
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task, Kind: agentos.EventAnswers})
	if err != nil {
		return nil, err
	}
	keys, err := c.Config.Keyring()
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err)
	}
	trusted := map[string]agentos.Actor{}
	for _, e := range evs {
		var d agentos.AnswersEvent
		if json.Unmarshal(e.Data, &d) != nil || !e.Actor.IsHuman() {
			continue
		}
		if keys.Len() > 0 && !signedAnswer(keys, task, e.Actor, d, packs) {
			continue
		}
		trusted[d.AnswerPack] = e.Actor
	}
	var ok []agentos.AnswerPack
	for _, ap := range packs {
		if who, found := trusted[ap.Hash]; found && who == ap.Who {
			ok = append(ok, ap)
		}
	}
	return budget.RaisesFrom(ok), nil
}

// signedAnswer checks an answers.given event's signature: a listed person
// who may answer signed this task's answers, the pack's digest.
func signedAnswer(keys *signers.Keyring, task string, actor agentos.Actor, d agentos.AnswersEvent, packs []agentos.AnswerPack) bool {
	if d.Signed == nil {
		return false
	}
	p, _, err := keys.Verify([]byte(d.Signed.Statement), d.Signed.Signature)
	if err != nil || p.Actor() != actor || !p.Can(signers.RoleAnswer) {
		return false
	}
	st, err := approval.ParseStatement([]byte(d.Signed.Statement))
	if err != nil || st.Task != task || st.Decision != "answer" || st.Signer != actor {
		return false
	}
	for _, ap := range packs {
		if ap.Hash == d.AnswerPack {
			return canonjson.MustDigest(ap.Answers) == st.Answers
		}
	}
	return false
}

// overBudget stops a planning task whose model calls reached a limit: in
// full_auto it fails (nobody is there to raise it); otherwise it blocks on
// a question asking a person to raise the limit, for this task. Either way
// the limit reached is audited, and the ReviewPack shows the spend.
func (c *Coordinator) overBudget(ctx context.Context, t *agentos.Task, e *budget.Exceeded, cause error) (*agentos.Task, bool, error) {
	if t.State != agentos.StatePlanning {
		return t, false, nil
	}
	if _, err := c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: agentos.EventBudgetExceeded, Data: e.Limit}); err != nil {
		return t, true, err
	}
	if t.Mode == agentos.ModeFullAuto {
		return t, false, nil // failPlanning fails it
	}
	q := budget.Question(e)
	qp := &agentos.QuestionPack{
		Version: agentos.DocVersion, ID: NewID("q"), Task: t.ID, Mode: t.Mode,
		// AgentOS asks this, not the planner: it spends no question budget.
		Budget:    agentos.Budget{Limit: c.Config.QuestionBudget(t.Mode), Used: c.questionsAsked(ctx, t.ID)},
		Questions: []agentos.Question{q}, CreatedAt: c.Now().UTC(),
	}
	if err := c.DB.SaveQuestionPack(ctx, qp); err != nil {
		return t, true, err
	}
	reason := agentos.ErrorMessage(cause)
	// As resolveQuestions blocks: the transition and its questions event
	// in one transaction.
	nt, err := c.DB.Transition(ctx, t.ID, t.State, agentos.StateBlocked, agentos.System, agentos.TaskUpdate{Reason: &reason},
		agentos.TransitionDetail{QuestionPack: qp.ID},
		agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: agentos.EventQuestions, Data: agentos.QuestionsEvent{Pack: qp.ID, Hash: qp.Hash, Questions: []string{q.ID}, Budget: qp.Budget}})
	if err != nil {
		return t, true, err
	}
	*t = *nt
	return t, true, agentos.WrapError(agentos.EBLOCKED, cause, "%s; a person may raise it for this task: `agentos answer %s --set %s=%s` (see `agentos questions %s`)",
		reason, t.ID, q.ID, q.Default, t.ID)
}

// checkRaise refuses an answer to a budget question that does not raise
// the limit above what was spent against it.
func (c *Coordinator) checkRaise(ctx context.Context, t *agentos.Task, id, value string) error {
	m, err := c.budgetMeter(ctx, t, agentos.System)
	if err != nil {
		return err
	}
	ls, err := m.Limits(ctx)
	if err != nil {
		return err
	}
	var spent int64
	for _, l := range ls {
		if budget.QuestionID(l.Scope, l.Metric) == id {
			spent = l.Spent
		}
	}
	_, err = budget.ParseRaise(id, value, spent)
	return err
}

// spend is the task's spend for its ReviewPack (nil when it made no model
// call and no limit applies).
func (c *Coordinator) spend(ctx context.Context, t *agentos.Task) *agentos.Spend {
	m, err := c.budgetMeter(ctx, t, agentos.System)
	if err != nil {
		return nil
	}
	exceeded := ""
	if evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: t.ID, Kind: agentos.EventBudgetExceeded}); err == nil && len(evs) > 0 {
		var l agentos.BudgetLimit
		if json.Unmarshal(evs[len(evs)-1].Data, &l) == nil {
			exceeded = fmt.Sprintf("%s.%s", l.Scope, l.Metric)
		}
	}
	s, err := m.Spend(ctx, exceeded)
	if err != nil {
		return nil
	}
	return s
}
