package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos/internal/jsonbody"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/tokens"
)

// call is one API request being served.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	id   Identity
	sess Session
}

func (c *call) ctx() context.Context { return c.r.Context() }

// session opens the request's session on first use.
func (c *call) session() (Session, error) {
	if c.sess == nil {
		s, err := c.s.opts.Open(c.ctx())
		if err != nil {
			return nil, err
		}
		c.sess = s
	}
	return c.sess, nil
}

func (c *call) store() (agentos.Store, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	return s.Store(c.ctx())
}

func (c *call) coordinator() (*coordinator.Coordinator, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	return s.Coordinator(c.ctx())
}

// longRun is the context of a request that may run a task: it outlives
// the client (as a run outlives a closed terminal) but not the server, and
// the response's write deadline is lifted so the result still reaches a
// client that waits for it.
func (c *call) longRun() (context.Context, func()) {
	rc := http.NewResponseController(c.w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(c.r.Context()))
	stop := context.AfterFunc(c.s.base, func() { cancel(context.Cause(c.s.base)) })
	return ctx, func() { stop(); cancel(nil) }
}

type handler func(c *call) (int, any, error)

// route serves pattern to tokens holding at least role.
func (s *Server) route(pattern string, role tokens.Role, h handler) {
	s.roles[pattern] = role
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			if id, ok = s.authenticate(w, r); !ok {
				return
			}
			r = r.WithContext(ContextWithIdentity(r.Context(), id))
		}
		if !id.Can(role) {
			s.fail(w, agentos.Errorf(agentos.EDENIED, "token %s (%s, role %s) may not %s %s: that needs the %s role", id.Token, id.Name, id.Role, r.Method, r.URL.Path, role))
			return
		}
		c := &call{s: s, w: w, r: r, id: id}
		defer func() {
			if c.sess != nil {
				c.sess.Close()
			}
		}()
		status, body, err := h(c)
		if err != nil {
			s.fail(w, err)
			return
		}
		if raw, ok := body.(rawJSON); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(raw)
			return
		}
		writeJSON(w, status, body)
	})
}

// rawJSON is a response body sent byte for byte (a statement to sign).
type rawJSON []byte

func (s *Server) routes() {
	s.mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Health{OK: true})
	})
	s.route("GET /api/v1/whoami", tokens.Viewer, func(c *call) (int, any, error) { return 200, c.id, nil })
	s.route("GET /api/v1/tasks", tokens.Viewer, listTasks)
	s.route("POST /api/v1/tasks", tokens.Submitter, submitTask)
	s.route("GET /api/v1/tasks/{id}", tokens.Viewer, showTask)
	s.route("GET /api/v1/tasks/{id}/plan", tokens.Viewer, taskPlan)
	s.route("GET /api/v1/plans/{id}", tokens.Viewer, showPlan)
	s.route("POST /api/v1/tasks/{id}/apply", tokens.Submitter, applyTask)
	s.route("POST /api/v1/tasks/{id}/cancel", tokens.Submitter, cancelTask)
	s.route("POST /api/v1/tasks/{id}/replan", tokens.Submitter, replanTask)
	s.route("GET /api/v1/tasks/{id}/questions", tokens.Viewer, taskQuestions)
	s.route("POST /api/v1/tasks/{id}/answer-statement", tokens.Answerer, answerStatement)
	s.route("POST /api/v1/tasks/{id}/answers", tokens.Answerer, answerTask)
	s.route("GET /api/v1/tasks/{id}/approval-statement", tokens.Approver, approvalStatement)
	s.route("POST /api/v1/tasks/{id}/approve", tokens.Approver, approveTask)
	s.route("POST /api/v1/tasks/{id}/reject", tokens.Approver, rejectTask)
	s.route("GET /api/v1/tasks/{id}/approvals", tokens.Viewer, taskApprovals)
	s.route("GET /api/v1/tasks/{id}/review", tokens.Viewer, taskReview)
	s.route("GET /api/v1/tasks/{id}/memory-pack", tokens.Viewer, taskMemoryPack)
	s.route("GET /api/v1/tasks/{id}/explain", tokens.Viewer, explainTask)
	s.route("GET /api/v1/audit", tokens.Viewer, auditLog)
	s.route("GET /api/v1/audit/verify", tokens.Viewer, auditVerify)
	s.route("POST /api/v1/memory/search", tokens.Viewer, memorySearch)
	s.route("GET /api/v1/locks", tokens.Viewer, listLocks)
	s.route("POST /api/v1/locks/{id}/release", tokens.Admin, releaseLock)
	s.route("GET /api/v1/tokens", tokens.Admin, listTokens)
}

// Health is the body of /api/v1/health.
type Health struct {
	OK bool `json:"ok"`
}

// decodeOptional is decode for a body that may be empty.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return jsonbody.Decode(r, v)
}

// TaskList is a page of tasks, newest first.
type TaskList struct {
	Tasks []*agentos.Task `json:"tasks"`
	// NextCursor continues the list (?cursor=); empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Page sizes of lists.
const (
	DefaultPage = 50
	MaxPage     = 500
)

func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return DefaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPage {
		return 0, agentos.Errorf(agentos.EINVALID, "limit %q: want 1 to %d", v, MaxPage)
	}
	return n, nil
}

func encodeCursor(t *agentos.Task) string {
	return base64.RawURLEncoding.EncodeToString([]byte(agentos.StoreTime(t.CreatedAt) + " " + t.ID))
}

func decodeCursor(s string) (*agentos.TaskCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	at, id, ok := strings.Cut(string(b), " ")
	if err != nil || !ok || id == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "cursor %q: pass the next_cursor of the previous page as it is", s)
	}
	t, err := time.Parse(agentos.TimeFormat, at)
	if err != nil {
		return nil, agentos.Errorf(agentos.EINVALID, "cursor %q: pass the next_cursor of the previous page as it is", s)
	}
	return &agentos.TaskCursor{CreatedAt: t, ID: id}, nil
}

func listTasks(c *call) (int, any, error) {
	q := c.r.URL.Query()
	f := agentos.TaskFilter{State: agentos.State(q.Get("state"))}
	if f.State != "" && !agentos.ValidState(f.State) {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "state %q is not a task state", f.State)
	}
	switch q.Get("ended") {
	case "", "false":
	case "true":
		f.Ended = true
	default:
		return 0, nil, agentos.Errorf(agentos.EINVALID, "ended %q: want true or false", q.Get("ended"))
	}
	limit, err := pageLimit(c.r)
	if err != nil {
		return 0, nil, err
	}
	if cur := q.Get("cursor"); cur != "" {
		if f.After, err = decodeCursor(cur); err != nil {
			return 0, nil, err
		}
	}
	f.Limit = limit + 1 // one more says whether there is a next page
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	ts, err := db.Tasks(c.ctx(), f)
	if err != nil {
		return 0, nil, err
	}
	out := TaskList{Tasks: ts}
	if len(ts) > limit {
		out.Tasks = ts[:limit]
		out.NextCursor = encodeCursor(ts[limit-1])
	}
	if out.Tasks == nil {
		out.Tasks = []*agentos.Task{}
	}
	return 200, out, nil
}

// SubmitRequest is the body of POST /api/v1/tasks: `agentos submit`
// (plan, gate, queue for a worker), or `agentos plan` with plan_only.
type SubmitRequest struct {
	// Plan is the plan file's text (YAML), as `--plan FILE` would read it.
	Plan string `json:"plan"`
	// Name names the plan in messages (default "plan.yaml").
	Name     string            `json:"name,omitempty"`
	Mode     string            `json:"mode,omitempty"`
	Values   map[string]string `json:"values,omitempty"`
	Labels   []string          `json:"labels,omitempty"`
	PlanOnly bool              `json:"plan_only,omitempty"`
}

// TaskResult is what a verb that ends with a task returns: the task, and
// the outcome the CLI would exit with (blocked, awaiting_approval, held,
// failed, …) when it is not plain success.
type TaskResult struct {
	Task    coordinator.TaskView `json:"task"`
	Outcome *ErrorBody           `json:"outcome,omitempty"`
}

// taskResult answers a verb that returned t and err: with a task, the
// outcome rides along (a blocked task is an answer, not a failure);
// without one, err is the response.
func (c *call) taskResult(status int, t *agentos.Task, err error) (int, any, error) {
	if t == nil {
		if err == nil {
			err = agentos.Errorf(agentos.EINTERNAL, "no task and no error")
		}
		return 0, nil, err
	}
	db, serr := c.store()
	if serr != nil {
		return 0, nil, serr
	}
	// Read the task again: the verb's copy may predate its last move.
	if fresh, ferr := db.Task(c.ctx(), t.ID); ferr == nil {
		t = fresh
	}
	res := TaskResult{Task: coordinator.View(c.ctx(), db, t)}
	if err != nil {
		code := agentos.ErrorCode(err)
		if code == agentos.EINTERNAL {
			return 0, nil, err
		}
		res.Outcome = &ErrorBody{Code: code, Message: c.s.opts.Redact(agentos.ErrorMessage(err))}
	}
	return status, res, nil
}

func submitTask(c *call) (int, any, error) {
	var req SubmitRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Plan) == "" {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "plan is empty: send the plan file's text")
	}
	name := req.Name
	if name == "" {
		name = "plan.yaml"
	}
	if strings.ContainsAny(name, "/\\\n") {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "name %q: a file name, without directories", name)
	}
	var mode agentos.Mode
	if req.Mode != "" {
		m, err := agentos.ParseMode(req.Mode)
		if err != nil {
			return 0, nil, err
		}
		mode = m
	}
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	src := req.Plan
	pr := coordinator.PlanRequest{File: "api:" + name, Source: &src, Mode: mode, Values: req.Values, Actor: c.id.Actor, Labels: req.Labels, AutoQueue: !req.PlanOnly}
	if pr.Values == nil {
		pr.Values = map[string]string{}
	}
	ctx, done := c.longRun()
	defer done()
	t, err := co.PlanFile(ctx, pr)
	if err == nil && t != nil && t.State == agentos.StatePlanned && !req.PlanOnly {
		err = co.Gate(ctx, t, c.id.Actor)
	}
	return c.taskResult(http.StatusCreated, t, err)
}

// TaskPage is a task with what its page shows: the current plan and the
// gates' decisions on it.
type TaskPage struct {
	Task          coordinator.TaskView   `json:"task"`
	Plan          *agentos.Plan          `json:"plan,omitempty"`
	GateDecisions []agentos.GateDecision `json:"gate_decisions"`
}

func showTask(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	page := TaskPage{Task: coordinator.View(c.ctx(), db, t), GateDecisions: []agentos.GateDecision{}}
	if s, err := c.session(); err == nil {
		if dir := keptDir(s); dir != "" {
			if kw, err := coordinator.ReadKeptWorktree(dir, t.ID); err == nil {
				page.Task.Worktree = kw
			}
		}
	}
	if t.PlanID != "" {
		p, _, err := db.Plan(c.ctx(), t.PlanID)
		if err != nil {
			return 0, nil, err
		}
		page.Plan = p
		ds, err := db.GateDecisions(c.ctx(), t.ID, p.Hash)
		if err != nil {
			return 0, nil, err
		}
		if ds != nil {
			page.GateDecisions = ds
		}
	}
	return 200, page, nil
}

// keptDir is the state directory when the session knows it.
func keptDir(s Session) string {
	if d, ok := s.(interface{ StateDir() string }); ok {
		return d.StateDir()
	}
	return ""
}

func taskPlan(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if t.PlanID == "" {
		return 0, nil, agentos.Errorf(agentos.ENOTFOUND, "task %s has no plan (it is %s)", t.ID, t.State)
	}
	p, _, err := db.Plan(c.ctx(), t.PlanID)
	if err != nil {
		return 0, nil, err
	}
	return 200, p, nil
}

func showPlan(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	p, _, err := db.Plan(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return 200, p, nil
}

func applyTask(c *call) (int, any, error) {
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	ctx, done := c.longRun()
	defer done()
	t, err := co.Apply(ctx, c.r.PathValue("id"), c.id.Actor)
	return c.taskResult(200, t, err)
}

// CancelRequest is the body of POST /api/v1/tasks/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

func cancelTask(c *call) (int, any, error) {
	var req CancelRequest
	if err := decodeOptional(c.r, &req); err != nil {
		return 0, nil, err
	}
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	t, err := co.Cancel(c.ctx(), c.r.PathValue("id"), c.id.Actor, req.Reason, 0)
	return c.taskResult(200, t, err)
}

func replanTask(c *call) (int, any, error) {
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	ctx, done := c.longRun()
	defer done()
	t, err := co.Replan(ctx, c.r.PathValue("id"), c.id.Actor)
	return c.taskResult(200, t, err)
}

func taskQuestions(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	qp, err := db.LatestQuestionPack(c.ctx(), t.ID)
	if err != nil {
		return 0, nil, err
	}
	return 200, qp, nil
}

// AnswersRequest is the body of answer-statement (Answers only) and of
// answers (Answers and Signed).
type AnswersRequest struct {
	Answers []agentos.Answer `json:"answers"`
	Signed  *Signed          `json:"signed,omitempty"`
}

// answerPack is the AnswerPack of answers for the task's current
// QuestionPack, as `agentos answer --set` builds it.
func answerPack(ctx context.Context, db agentos.Store, task string, answers []agentos.Answer) (agentos.AnswerPack, error) {
	if len(answers) == 0 {
		return agentos.AnswerPack{}, agentos.Errorf(agentos.EINVALID, "no answers: send answers: [{question, value}]")
	}
	qp, err := db.LatestQuestionPack(ctx, task)
	if err != nil {
		return agentos.AnswerPack{}, err
	}
	return agentos.AnswerPack{Pack: qp.ID, PackHash: qp.Hash, Answers: answers}, nil
}

func answerStatement(c *call) (int, any, error) {
	var req AnswersRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	co, err := s.CoordinatorReadOnly(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	t, err := co.DB.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ap, err := answerPack(c.ctx(), co.DB, t.ID, req.Answers)
	if err != nil {
		return 0, nil, err
	}
	signer, err := signerOf(c)
	if err != nil {
		return 0, nil, err
	}
	st, err := co.AnswerStatement(c.ctx(), t.ID, ap, signer)
	if err != nil {
		return 0, nil, err
	}
	return 200, rawJSON(st.Encode()), nil
}

// signerOf is who a statement handed to c's caller names as its signer:
// the person ?as= names, else the token's person.
func signerOf(c *call) (agentos.Actor, error) {
	name := c.r.URL.Query().Get("as")
	if name == "" {
		if !c.id.Actor.IsHuman() {
			return "", agentos.Errorf(agentos.EDENIED, "%s is not a person: only a person signs a decision", c.id.Actor)
		}
		return c.id.Actor, nil
	}
	if err := agentos.ValidHumanName(name); err != nil {
		return "", agentos.Errorf(agentos.EINVALID, "as: %v", err)
	}
	return agentos.Human(name), nil
}

func answerTask(c *call) (int, any, error) {
	var req AnswersRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	keys, err := co.Config.Keyring()
	if err != nil {
		return 0, nil, agentos.WrapError(agentos.EINVALID, err, "%s: signers: %v", agentos.PolicyFile, err)
	}
	var signed Signed
	if req.Signed != nil {
		signed = *req.Signed
	}
	who, err := decider(keys, signers.RoleAnswer, signed, co.Now())
	if err != nil {
		return 0, nil, err
	}
	t, err := co.DB.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ap, err := answerPack(c.ctx(), co.DB, t.ID, req.Answers)
	if err != nil {
		return 0, nil, err
	}
	ctx, done := c.longRun()
	defer done()
	t, err = co.Answer(ctx, t.ID, ap, who)
	return c.taskResult(200, t, err)
}

func approvalStatement(c *call) (int, any, error) {
	q := c.r.URL.Query()
	kind := approval.Kind(q.Get("decision"))
	if kind == "" {
		kind = approval.KindApprove
	}
	if kind != approval.KindApprove && kind != approval.KindReject {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "decision %q: want approve or reject", kind)
	}
	comment := q.Get("comment")
	if kind == approval.KindReject {
		comment = q.Get("reason")
	}
	signer, err := signerOf(c)
	if err != nil {
		return 0, nil, err
	}
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	co, err := s.CoordinatorReadOnly(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	st, err := co.DecisionStatement(c.ctx(), c.r.PathValue("id"), strings.TrimSpace(q.Get("plan")), kind, signer, comment)
	if err != nil {
		return 0, nil, err
	}
	return 200, rawJSON(st.Encode()), nil
}

// DecisionRequest is the body of approve (Comment) and reject (Reason).
type DecisionRequest struct {
	Plan    string  `json:"plan"`
	Comment string  `json:"comment,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	Signed  *Signed `json:"signed,omitempty"`
}

// ApproveResult is the response of approve.
type ApproveResult struct {
	TaskResult
	Status  approval.Status  `json:"status"`
	Binding approval.Binding `json:"binding"`
	Applied bool             `json:"applied"`
	Queued  bool             `json:"queued"`
}

func (c *call) decider(co *coordinator.Coordinator, req DecisionRequest) (approval.Identity, error) {
	keys, err := co.Config.Keyring()
	if err != nil {
		return approval.Identity{}, agentos.WrapError(agentos.EINVALID, err, "%s: signers: %v", agentos.PolicyFile, err)
	}
	var signed Signed
	if req.Signed != nil {
		signed = *req.Signed
	}
	return decider(keys, signers.RoleApprove, signed, co.Now())
}

func approveTask(c *call) (int, any, error) {
	var req DecisionRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Plan) == "" {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "plan is required: name the plan hash you reviewed (sha256:…)")
	}
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	who, err := c.decider(co, req)
	if err != nil {
		return 0, nil, err
	}
	ctx, done := c.longRun()
	defer done()
	res, err := co.Approve(ctx, c.r.PathValue("id"), strings.TrimSpace(req.Plan), who, req.Comment)
	if res == nil {
		return 0, nil, err
	}
	_, tr, terr := c.taskResult(200, res.Task, err)
	if terr != nil {
		return 0, nil, terr
	}
	return 200, ApproveResult{TaskResult: tr.(TaskResult), Status: res.Status, Binding: res.Binding, Applied: res.Applied, Queued: res.Queued}, nil
}

func rejectTask(c *call) (int, any, error) {
	var req DecisionRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "reason is required: say why the plan is rejected")
	}
	co, err := c.coordinator()
	if err != nil {
		return 0, nil, err
	}
	who, err := c.decider(co, req)
	if err != nil {
		return 0, nil, err
	}
	t, err := co.Reject(c.ctx(), c.r.PathValue("id"), strings.TrimSpace(req.Plan), who, req.Reason)
	return c.taskResult(200, t, err)
}

// ApprovalList is the body of GET /api/v1/tasks/{id}/approvals.
type ApprovalList struct {
	Approvals []agentos.Approval `json:"approvals"`
}

func taskApprovals(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	as, err := approval.NewStore(db).List(c.ctx(), t.ID)
	if err != nil {
		return 0, nil, err
	}
	if as == nil {
		as = []agentos.Approval{}
	}
	return 200, ApprovalList{Approvals: as}, nil
}

// Review is the body of GET /api/v1/tasks/{id}/review.
type Review struct {
	Review   *agentos.ReviewPack `json:"review"`
	Markdown string              `json:"markdown"`
}

func taskReview(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	rp, md, err := db.Review(c.ctx(), t.ID)
	if err != nil {
		return 0, nil, err
	}
	return 200, Review{Review: rp, Markdown: md}, nil
}

func taskMemoryPack(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	t, err := db.Task(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	p, err := db.LatestMemoryPack(c.ctx(), t.ID)
	if err != nil {
		return 0, nil, err
	}
	return 200, p, nil
}

func explainTask(c *call) (int, any, error) {
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	doc, err := s.SchedulerExplain(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return 200, doc, nil
}

// AuditPage is a page of the audit log, oldest first.
type AuditPage struct {
	Events []agentos.Event `json:"events"`
	// NextFrom continues the log (?from=); 0 on the last page.
	NextFrom int64 `json:"next_from,omitempty"`
}

func auditLog(c *call) (int, any, error) {
	q := c.r.URL.Query()
	limit, err := pageLimit(c.r)
	if err != nil {
		return 0, nil, err
	}
	f := agentos.EventFilter{Task: q.Get("task"), Kind: q.Get("kind"), Limit: limit + 1}
	if v := q.Get("from"); v != "" {
		if f.FromSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.FromSeq < 0 {
			return 0, nil, agentos.Errorf(agentos.EINVALID, "from %q: want an event seq", v)
		}
	}
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	evs, err := db.Events(c.ctx(), f)
	if err != nil {
		return 0, nil, err
	}
	out := AuditPage{Events: evs}
	if len(evs) > limit {
		out.Events = evs[:limit]
		out.NextFrom = evs[limit].Seq
	}
	if out.Events == nil {
		out.Events = []agentos.Event{}
	}
	return 200, out, nil
}

// AuditVerifyResult is the body of GET /api/v1/audit/verify: the
// document of `agentos audit verify --json`, and the error it would exit
// with when something did not verify.
type AuditVerifyResult struct {
	Report any        `json:"report"`
	Error  *ErrorBody `json:"error,omitempty"`
}

func auditVerify(c *call) (int, any, error) {
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	doc, failed, err := s.AuditVerify(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	out := AuditVerifyResult{Report: doc}
	if failed != nil {
		out.Error = &ErrorBody{Code: agentos.ErrorCode(failed), Message: c.s.opts.Redact(agentos.ErrorMessage(failed))}
	}
	return 200, out, nil
}

// SearchResult is the body of POST /api/v1/memory/search.
type SearchResult struct {
	Query memory.Query `json:"query"`
	Hits  []memory.Hit `json:"hits"`
}

func memorySearch(c *call) (int, any, error) {
	var q memory.Query
	if err := jsonbody.Decode(c.r, &q); err != nil {
		return 0, nil, err
	}
	if q.Limit == 0 {
		q.Limit = 10
	}
	if q.Limit < 1 || q.Limit > memory.MaxLimit {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "limit %d: must be between 1 and %d", q.Limit, memory.MaxLimit)
	}
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	svc, err := s.Memory(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	hits, err := svc.Search(c.ctx(), q)
	if err != nil {
		return 0, nil, err
	}
	if hits == nil {
		hits = []memory.Hit{}
	}
	q.Text = c.s.opts.Redact(q.Text) // echoed as every text from outside is: redacted
	return 200, SearchResult{Query: q, Hits: hits}, nil
}

// LockList is the body of GET /api/v1/locks.
type LockList struct {
	Now   time.Time    `json:"now"`
	Locks []lock.Lease `json:"locks"`
}

func listLocks(c *call) (int, any, error) {
	db, err := c.store()
	if err != nil {
		return 0, nil, err
	}
	now := c.s.opts.Now()
	ls, err := lock.New(db, c.s.opts.Now).List(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	if ls == nil {
		ls = []lock.Lease{}
	}
	return 200, LockList{Now: now.UTC(), Locks: ls}, nil
}

// ReleaseRequest is the body of POST /api/v1/locks/{id}/release.
type ReleaseRequest struct {
	Reason string `json:"reason"`
}

func releaseLock(c *call) (int, any, error) {
	var req ReleaseRequest
	if err := jsonbody.Decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return 0, nil, agentos.Errorf(agentos.EINVALID, "reason is required: say why the holder is gone (it is audited)")
	}
	s, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	db, err := s.WriteStore(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	l, err := lock.New(db, c.s.opts.Now).ForceRelease(c.ctx(), c.r.PathValue("id"), req.Reason, c.id.Actor)
	if err != nil {
		return 0, nil, err
	}
	return 200, l, nil
}

// TokenList is the body of GET /api/v1/tokens.
type TokenList struct {
	Tokens []agentos.APIToken `json:"tokens"`
}

func listTokens(c *call) (int, any, error) {
	ts, err := c.s.opts.Tokens.List(c.ctx())
	if err != nil {
		return 0, nil, err
	}
	return 200, TokenList{Tokens: ts}, nil
}
