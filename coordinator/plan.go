package coordinator

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planfile"
	"github.com/agentos/agentos/workspace"
)

// PlanRequest asks for a task planned from a plan file.
type PlanRequest struct {
	File      string
	Mode      agentos.Mode
	Values    map[string]string // answers given up front (--set, --answers)
	Actor     agentos.Actor
	AutoApply bool // run: continue to apply once planned
	AutoQueue bool // submit: continue to the queue once planned
	Labels    []string
	// Source is the plan's text when it did not come from a file (the
	// HTTP API); File then only names it in messages.
	Source *string
}

// PlanFile creates a task from a plan file and plans it: a dry run that
// validates every step against the base commit (red line 3), asks what is
// missing (or blocks), builds the MemoryPack, and stores the hashed plan. It
// touches neither the working tree, nor the index, nor any ref.
func (c *Coordinator) PlanFile(ctx context.Context, req PlanRequest) (*agentos.Task, error) {
	// The name first: a plan refused below is audited under it.
	if err := checkSourceName(req.File); err != nil {
		return nil, err
	}
	// again: the file's text was decoded over (parsePlanFile); it is known
	// by its hash until it is read again for the task's source.
	f, raw, again, perr, err := c.requestSource(req)
	if err != nil {
		return nil, err
	}
	if again != "" {
		defer largeBodyGC(agentos.StreamMin)()
	} else {
		defer largeBodyGC(len(raw))()
	}
	refused := func(err error, goal string) {
		if again != "" {
			c.auditRefusalOf(ctx, req.File, again, goal, req.Actor, err)
		} else {
			c.auditRefusal(ctx, req.File, raw, goal, req.Actor, err)
		}
	}
	if perr != nil {
		err = agentos.WrapError(agentos.EINVALID, perr, "%s: %v", req.File, perr)
		refused(err, "")
		return nil, err
	}
	mode := req.Mode
	if mode == "" && f.Mode != "" {
		if mode, err = agentos.ParseMode(f.Mode); err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "%s: mode: %v", req.File, err)
		}
	}
	if mode == "" {
		mode = agentos.ModeSemiAuto
		if c.Config.Modes.Default != "" {
			mode = agentos.Mode(c.Config.Modes.Default)
		}
	}
	if err := checkValues(f, req.Values, c.Repo.Dir()); err != nil {
		return nil, err
	}
	target, base, err := c.targetAndBase(ctx)
	if err != nil {
		return nil, err
	}
	labels := append(append([]string{}, f.Labels...), req.Labels...)
	t := &agentos.Task{
		ID: NewID("t"), Mode: mode, Goal: f.Goal, Request: "plan file " + req.File, Planner: "file",
		Submitter: req.Actor, Labels: labels, Target: target, AutoApply: req.AutoApply, AutoQueue: req.AutoQueue,
		Source: raw, SourcePath: req.File,
	}
	if err := c.checkTaskInput(t, req.Values); err != nil {
		return nil, err // no task was created
	}
	if err := c.checkFileText(f); err != nil {
		return nil, err // no task was created
	}
	pre, err := c.precheckFile(ctx, f, req.Values, mode, base)
	if err != nil && refusal(err) {
		refused(err, f.Goal)
		return nil, err // no task was created
	}
	if again != "" {
		// The value and the text are not held side by side: the value goes,
		// the text is read again (as planned, or no task) and stored, then
		// the value is decoded again from a third read.
		f, pre = nil, nil
		releaseLarge(agentos.StreamMin)
		if t.Source, err = c.planTextAgain(req.File, again); err != nil {
			return nil, err // no task was created
		}
	}
	values, err := c.startTask(ctx, t, req.Values, req.Actor)
	if err != nil {
		return c.startedOrNot(ctx, t), err
	}
	if again != "" {
		if len(t.Source) >= agentos.StreamMin {
			// Stored as a blob (agentos.BlobForStore), read from there.
			t.Source, t.SourceBlob = "", agentos.BlobHash(t.Source)
		}
		releaseLarge(agentos.StreamMin)
		if f, err = c.parsePlanAgain(req.File, again); err != nil {
			return c.failPlanning(ctx, t, err)
		}
	}
	return c.planFromFile(ctx, t, f, values, req.Actor, pre)
}

// startTask stores a new task, moves it to planning and records answers
// given up front as an AnswerPack (they count as answered and spend no
// budget). It returns the values known so far.
func (c *Coordinator) startTask(ctx context.Context, t *agentos.Task, upfront map[string]string, actor agentos.Actor) (map[string]string, error) {
	if err := c.checkTaskInput(t, upfront); err != nil {
		return nil, err
	}
	// A plan file is stored about twice (as submitted and as the plan's
	// bodies), each first in SQLite's WAL and then in the database: a
	// planning that needs more than is free would fill the disk halfway
	// through, where even recording its failure may not fit. (A small
	// plan still plans on a nearly full disk; its run is held by the
	// preflight until there is room.)
	if free, ok := freeBytes(c.StateDir); ok && free < 4*int64(len(t.Source)) {
		return nil, c.noSpace(fmt.Errorf("%s free, planning a %s plan file needs about %s", mib(free), mib(int64(len(t.Source))), mib(4*int64(len(t.Source)))), "no task was created")
	}
	if err := c.DB.CreateTask(ctx, t); err != nil {
		if isNoSpace(err) {
			return nil, c.noSpace(err, "no task was created")
		}
		return nil, err
	}
	if _, err := c.transition(ctx, t, agentos.StatePlanning, actor, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		_, err = c.failPlanning(ctx, t, err)
		return nil, err
	}
	values := map[string]string{}
	if len(upfront) == 0 {
		return values, nil
	}
	ap := &agentos.AnswerPack{Version: agentos.DocVersion, Pack: UpfrontPack, Who: actor, When: c.Now().UTC()}
	for _, id := range sortedKeys(upfront) {
		ap.Answers = append(ap.Answers, agentos.Answer{Question: id, Value: upfront[id]})
		values[id] = upfront[id]
	}
	return values, c.recordAnswers(ctx, t, ap, nil, actor, nil, "")
}

// planFromSource (re)plans a task in state planning from its stored plan
// file, with the answers known so far. Questions still open either block the
// task or fail it, depending on the mode.
func (c *Coordinator) planFromSource(ctx context.Context, t *agentos.Task, values map[string]string, actor agentos.Actor) (*agentos.Task, error) {
	if t.Planner == PlannerRollback {
		// Never handed to a model; a rollback is computed anew by Rollback.
		return c.failPlanning(ctx, t, agentos.Errorf(agentos.ECONFLICT, "rollback task %s cannot be re-planned: run `agentos rollback` on the task it reverts again", t.ID))
	}
	if t.Planner != "" && t.Planner != "file" {
		return c.planRequest(ctx, t, values, actor) // natural-language tasks (nl.go)
	}
	src, err := c.taskSource(ctx, t)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	f, err := planfile.ParseString(src)
	if err != nil {
		return c.failPlanning(ctx, t, agentos.WrapError(agentos.EINVALID, err, "%s: %v", t.SourcePath, err))
	}
	return c.planFromFile(ctx, t, f, values, actor, nil)
}

// planFromFile is planFromSource with the plan file already parsed (a plan
// file is parsed once per planning, whatever its size); pre is what
// PlanFile's precheck validated, if anything.
func (c *Coordinator) planFromFile(ctx context.Context, t *agentos.Task, f *planfile.File, values map[string]string, actor agentos.Actor, pre *validated) (*agentos.Task, error) {
	if values == nil {
		values = map[string]string{}
	}
	questions := []agentos.Question{}
	for _, p := range f.Params {
		if _, ok := values[p.ID]; !ok {
			questions = append(questions, p.AsQuestion())
		}
	}
	assumptions, err := c.resolveQuestions(ctx, t, questions, values, actor)
	if err != nil {
		return t, err
	}
	if t.State != agentos.StatePlanning {
		return t, nil // blocked
	}
	return c.buildFilePlan(ctx, t, f, values, assumptions, questions, actor, pre)
}

func (c *Coordinator) targetAndBase(ctx context.Context) (string, string, error) {
	target := c.Config.Target
	if target == "" {
		b, err := c.Repo.CurrentBranch(ctx)
		if err != nil || b == "" {
			return "", "", agentos.Errorf(agentos.EINVALID, "no target branch: set `target:` in agentos.yaml or check out a branch")
		}
		target = b
	}
	base, err := c.targetHead(ctx, target)
	if err != nil {
		return "", "", err
	}
	// A task is governed by the policy committed at its base.
	if err := c.checkPolicyAt(ctx, base, c.Config.Hash, "the policy changed on "+target+" meanwhile; run the command again"); err != nil {
		return "", "", err
	}
	return target, base, nil
}

// failPlanning moves a planning task to failed, writes its ReviewPack and
// returns the original error.
func (c *Coordinator) failPlanning(ctx context.Context, t *agentos.Task, cause error) (*agentos.Task, error) {
	if e, ok := budget.AsExceeded(cause); ok {
		// A budget stop blocks on a question unless the mode forbids one.
		if nt, done, err := c.overBudget(ctx, t, e, cause); done {
			return nt, err
		}
	}
	if isNoSpace(cause) && agentos.ErrorCode(cause) == agentos.EINTERNAL {
		cause = c.noSpace(cause, "planning stopped there")
	}
	msg := agentos.ErrorMessage(cause)
	if t.State.Terminal() {
		return t, cause
	}
	if isNoSpace(cause) {
		// The disk is full: the reserve gives the failed state and the
		// ReviewPack their room (the next run's preflight makes it again).
		c.dropReserve()
	}
	if _, err := c.transition(ctx, t, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: agentos.Str(msg)}, agentos.TransitionDetail{Phase: "plan"}); err != nil {
		return t, agentos.WrapError(agentos.ErrorCode(cause), cause, "%s (and recording the failure failed: %v)", msg, err)
	}
	if _, err := c.writeReview(ctx, t, nil); err != nil {
		return t, agentos.WrapError(agentos.ErrorCode(cause), cause, "%s (and writing its ReviewPack failed: %v)", msg, err)
	}
	return t, cause
}

// storedBodies is how many bytes of p's step bodies a store keeps.
func storedBodies(p *agentos.Plan) int {
	n := 0
	for _, s := range p.Steps {
		n += len(s.Content) + len(s.Diff)
	}
	return n
}

// startedOrNot is t when startTask stored it, nil when it failed before
// (a full disk): a task that does not exist is not reported as created.
func (c *Coordinator) startedOrNot(ctx context.Context, t *agentos.Task) *agentos.Task {
	if _, err := c.DB.Task(ctx, t.ID); err != nil {
		return nil
	}
	return t
}

// noSpace is a full disk as the user reads it: one line, exit 1.
func (c *Coordinator) noSpace(err error, what string) error {
	return agentos.WrapError(agentos.EFAILED, err, "the disk under %s is full (%v): %s; free some space (`agentos task clean` removes the worktrees kept of failed runs)", c.StateDir, err, what)
}

// buildFilePlan renders the plan file with values, validates every step
// against the base commit and stores intent, MemoryPack and plan.
func (c *Coordinator) buildFilePlan(ctx context.Context, t *agentos.Task, f *planfile.File, values map[string]string, assumptions []agentos.Assumption, asked []agentos.Question, actor agentos.Actor, pre *validated) (*agentos.Task, error) {
	_, base, err := c.targetAndBase(ctx)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	intent := &agentos.Intent{
		Version: agentos.DocVersion, ID: NewID("i"), Task: t.ID, Request: t.Request, Goal: f.Goal, Kind: "change",
		Constraints: []string{}, Acceptance: []string{}, Assumptions: []string{}, Risk: "low",
		OpenQuestions: asked, Source: agentos.Source{Planner: "file", File: t.SourcePath},
	}
	for _, a := range assumptions {
		intent.Assumptions = append(intent.Assumptions, fmt.Sprintf("%s = %q (%s)", a.Question, a.Value, a.Why))
	}
	steps, checks, ok := pre.reuse(base, values, intent.ID)
	if !ok {
		rendered, err := f.Render(values)
		if err != nil {
			return c.failPlanning(ctx, t, err)
		}
		if steps, checks, err = c.validateSteps(ctx, base, rendered, intent.ID); err != nil {
			return c.failPlanning(ctx, t, err)
		}
	}
	p := &agentos.Plan{
		Version: agentos.DocVersion, ID: NewID("p"), Task: t.ID, IntentID: intent.ID, Goal: f.Goal,
		BaseCommit: base, Target: t.Target, PolicyHash: c.Config.Hash, Params: values,
		Assumptions: assumptions, Steps: steps, Verify: checks, Source: t.SourcePath,
	}
	intent.Scope = p.Paths()
	if intent.Scope == nil {
		intent.Scope = []string{}
	}
	for _, ch := range checks {
		intent.Acceptance = append(intent.Acceptance, acceptance(ch))
	}
	for _, s := range steps {
		if riskRank(s.Risk) > riskRank(intent.Risk) {
			intent.Risk = s.Risk
		}
	}
	return c.storePlan(ctx, t, intent, p, nil, actor)
}

// storePlan is where every planner's output enters: it checks the user's
// working tree, builds and freezes the MemoryPack, pins it and the policy in
// the plan, stores intent and plan, and moves the task to planned.
//
// pack is the MemoryPack the planner was given, if it was given one: the plan
// pins exactly what its author saw. Otherwise one is built here.
func (c *Coordinator) storePlan(ctx context.Context, t *agentos.Task, intent *agentos.Intent, p *agentos.Plan, pack *agentos.MemoryPack, actor agentos.Actor) (*agentos.Task, error) {
	if err := c.checkStepSizes(p); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	if err := c.checkPlanText(p); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	if err := c.checkDirty(ctx, p); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	if p.Params == nil {
		p.Params = map[string]string{}
	}
	if len(p.Verify) == 0 {
		// validateSteps refused this already unless the policy allows it;
		// held here too, since every planner's plan passes this point.
		if !c.Config.Verify.AllowUnverified {
			return c.failPlanning(ctx, t, errUnverified())
		}
		markUnverified(intent, p)
	}
	if pack == nil {
		var err error
		if pack, err = c.buildMemoryPack(ctx, t, intent); err != nil {
			return c.failPlanning(ctx, t, err)
		}
	}
	p.MemoryPackHash = pack.Hash
	// The plan's bodies go to the store twice over (WAL, then database):
	// when that cannot fit, the task ends failed now, while its failure
	// and ReviewPack still find room.
	if need := 2 * int64(storedBodies(p)); need > 0 {
		if free, ok := freeBytes(c.StateDir); ok && free < need {
			return c.failPlanning(ctx, t, c.noSpace(fmt.Errorf("%s free, storing the plan's content needs about %s", mib(free), mib(need)), "planning stopped there"))
		}
	}
	// A store write that fails here (a full disk) ends the task failed
	// with its ReviewPack: each write is one transaction, so nothing of it
	// is half-kept, and a task is never left planning.
	if err := c.DB.SaveIntent(ctx, intent); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	if err := c.DB.SavePlan(ctx, p, actor); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	_, err := c.transition(ctx, t, agentos.StatePlanned, actor, agentos.TaskUpdate{
		PlanID: &p.ID, PlanHash: &p.Hash, IntentID: &intent.ID, Goal: &p.Goal, Reason: agentos.Str(""),
	}, agentos.TransitionDetail{PlanHash: p.Hash})
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	return t, nil
}

// unverifiedNote is what a plan allowed to commit without a verify check
// says, in its assumptions and its intent.
const unverifiedNote = "UNVERIFIED: the plan has no verify check and verify.allow_unverified is true in " + agentos.PolicyFile + ", so only each step's own postcondition is checked"

// markUnverified records in the plan and its intent that nothing verifies
// the change, unless the planner already said why (a rollback does).
func markUnverified(intent *agentos.Intent, p *agentos.Plan) {
	for _, a := range p.Assumptions {
		if a.Question == "verify" {
			return
		}
	}
	p.Assumptions = append(p.Assumptions, agentos.Assumption{Question: "verify", Value: "none", Why: unverifiedNote})
	intent.Assumptions = append(intent.Assumptions, unverifiedNote)
}

// buildMemoryPack selects and freezes the memory for a task. With no memory
// configured the pack is empty but still hashed and stored: red line 1 is
// about provenance, not about having facts.
func (c *Coordinator) buildMemoryPack(ctx context.Context, t *agentos.Task, intent *agentos.Intent) (*agentos.MemoryPack, error) {
	budget := c.Config.Memory.PackBudgetBytes
	if budget <= 0 {
		budget = 8192
	}
	q := agentos.MemoryQuery{Text: strings.TrimSpace(intent.Goal + " " + strings.Join(intent.Constraints, " ")), Paths: intent.Scope, BudgetBytes: budget}
	if q.Paths == nil {
		q.Paths = []string{}
	}
	var pack agentos.MemoryPack
	if c.Memory != nil {
		var err error
		pack, err = c.Memory.BuildPack(ctx, t.ID, q)
		if err != nil {
			return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot build the MemoryPack: %v", err)
		}
	}
	pack.Version = agentos.DocVersion
	if pack.ID == "" {
		pack.ID = NewID("m")
	}
	pack.Task, pack.Query = t.ID, q
	if pack.Items == nil {
		pack.Items = []agentos.PackedItem{}
	}
	if err := c.DB.SaveMemoryPack(ctx, &pack, agentos.System); err != nil {
		return nil, err
	}
	return &pack, nil
}

// checkDirty refuses a plan that writes paths with uncommitted changes in the
// user's working tree: integrating it would overwrite or tangle their work.
func (c *Coordinator) checkDirty(ctx context.Context, p *agentos.Plan) error {
	dirty, err := c.Repo.DirtyPaths(ctx, append([]string{}, p.Paths()...))
	if err != nil {
		return err
	}
	var hit []string
	for _, w := range p.Paths() {
		for _, d := range dirty {
			if d == w || strings.HasPrefix(d, w+"/") || strings.HasPrefix(w, strings.TrimSuffix(d, "/")+"/") {
				hit = append(hit, d)
			}
		}
	}
	if len(hit) > 0 {
		sort.Strings(hit)
		hit = slices.Compact(hit)
		return agentos.Errorf(agentos.EINVALID, "uncommitted changes in %s, which the plan writes: commit or stash them first", strings.Join(hit, ", "))
	}
	return nil
}

func riskRank(r string) int {
	switch r {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	}
	return 0
}

// execPath is the PATH commands run with: the profiles' directories, then
// the parent's absolute entries.
func (c *Coordinator) execPath() string { return c.confinement().SearchPath(c.Env) }

func (c *Coordinator) defaultTimeout() time.Duration {
	if d, err := time.ParseDuration(c.Config.Exec.DefaultTimeout); err == nil && d > 0 {
		return d
	}
	return 10 * time.Minute
}

// validateSteps is red line 3 at plan time: every path is normalised, stays
// in the repository, avoids protected paths and symlinks, and exists in the
// base commit unless an earlier step creates it; every command is allowed and
// exists. It reads only the object database.
func (c *Coordinator) validateSteps(ctx context.Context, base string, r *planfile.Rendered, intentID string) ([]agentos.Step, []agentos.Check, error) {
	// Only the directories the plan's paths go through are read.
	lister, err := c.Repo.ReadTree(ctx, base)
	if err != nil {
		return nil, nil, err
	}
	defer lister.Close()
	tree := workspace.NewLazyTree(lister.ListDir)
	steps, checks, err := c.validateOn(ctx, tree, base, r, intentID)
	if tree.Err() != nil {
		err = agentos.WrapError(agentos.EINTERNAL, tree.Err(), "cannot read the base commit %s: %v", short(base), tree.Err())
	}
	return steps, checks, err
}

func (c *Coordinator) validateOn(ctx context.Context, tree *workspace.Tree, base string, r *planfile.Rendered, intentID string) ([]agentos.Step, []agentos.Check, error) {
	touched := map[string]bool{}
	var steps []agentos.Step
	for i, rs := range r.Steps {
		s, err := c.validateStep(ctx, base, tree, touched, rs, intentID)
		if err != nil {
			return nil, nil, agentos.WrapError(agentos.ErrorCode(err), err, "step %d (%s, line %d): %s", i+1, rs.Kind, rs.Line, agentos.ErrorMessage(err))
		}
		steps = append(steps, s)
	}
	checks := []agentos.Check{}
	for i, rc := range r.Verify {
		exe, cwd, err := c.resolveCommand(tree, rc.Argv, rc.Cwd)
		if err != nil {
			return nil, nil, agentos.WrapError(agentos.ErrorCode(err), err, "verify check %d (line %d): %s", i+1, rc.Line, agentos.ErrorMessage(err))
		}
		ch := agentos.Check{Argv: rc.Argv, Exe: exe, Cwd: cwd, Name: rc.Name}
		if rc.Timeout != "" {
			d, _ := time.ParseDuration(rc.Timeout)
			ch.TimeoutMS = d.Milliseconds()
		}
		checks = append(checks, ch)
	}
	// Every change is verified: a plan that brings no check of its own gets
	// the policy's default, resolved and allow-listed like any check and
	// hashed with the plan, marked as coming from the policy. A model's or
	// contractor's plan gets it whatever checks it brings (the AI proposes,
	// the policy decides what verifies), each default check once.
	if len(checks) == 0 || r.ByModel {
		for i, d := range c.Config.Verify.Default {
			if slices.ContainsFunc(checks, func(ch agentos.Check) bool { return slices.Equal(ch.Argv, d.Argv) && ch.Cwd == d.Cwd }) {
				continue
			}
			exe, cwd, err := c.resolveCommand(tree, d.Argv, d.Cwd)
			if err != nil {
				return nil, nil, agentos.WrapError(agentos.ErrorCode(err), err, "verify.default[%d] of %s (the plan brings no verify check, so the policy's default applies): %s", i, agentos.PolicyFile, agentos.ErrorMessage(err))
			}
			checks = append(checks, agentos.Check{Argv: slices.Clone(d.Argv), Exe: exe, Cwd: cwd, Name: d.Name, TimeoutMS: d.TimeoutMS(), PolicyDefault: true})
		}
	}
	if len(checks) == 0 && !c.Config.Verify.AllowUnverified {
		return nil, nil, errUnverified()
	}
	return steps, checks, nil
}

// errUnverified refuses a plan left with no verify check, naming the ways out.
func errUnverified() error {
	return agentos.Errorf(agentos.EDENIED, "the plan has no verify check and %s has no verify.default, so its change would commit unverified: %s", agentos.PolicyFile, config.UnverifiedHowTo)
}

// acceptance is how a verify check reads among an intent's acceptance
// checks; one the policy supplied says so.
func acceptance(ch agentos.Check) string {
	a := strings.Join(ch.Argv, " ")
	if ch.PolicyDefault {
		a += " (verify.default of " + agentos.PolicyFile + ": the plan brought no check)"
	}
	return a
}

// noteDefaultChecks records in an intent whose acceptance its planner wrote
// (a model, a contractor) the checks the policy added.
func noteDefaultChecks(intent *agentos.Intent, checks []agentos.Check) {
	for _, ch := range checks {
		if ch.PolicyDefault {
			intent.Acceptance = append(intent.Acceptance, acceptance(ch))
		}
	}
}

func (c *Coordinator) validateStep(ctx context.Context, base string, tree *workspace.Tree, touched map[string]bool, rs planfile.RawStep, intentID string) (agentos.Step, error) {
	s := agentos.Step{Kind: rs.Kind, IntentID: intentID, Rationale: rs.Rationale, Risk: rs.Risk}
	writable := func(p string) (string, error) {
		cp, err := workspace.CleanWritable(p)
		if err != nil {
			return "", err
		}
		if err := tree.CheckNoSymlink(cp); err != nil {
			return "", err
		}
		return cp, nil
	}
	var err error
	switch rs.Kind {
	case agentos.StepWrite:
		if s.Path, err = writable(rs.Fields["path"]); err != nil {
			return s, err
		}
		if tree.IsDir(s.Path) {
			return s, agentos.Errorf(agentos.EINVALID, "%q is a directory", s.Path)
		}
		if err := tree.CheckParentNotFile(s.Path); err != nil {
			return s, err
		}
		s.Content = rs.Fields["content"]
		tree.AddFile(s.Path, false)
		touched[s.Path] = true
	case agentos.StepMkdir:
		if s.Path, err = writable(rs.Fields["path"]); err != nil {
			return s, err
		}
		if tree.Exists(s.Path) && !tree.IsDir(s.Path) {
			return s, agentos.Errorf(agentos.EINVALID, "%q exists and is a file", s.Path)
		}
		if err := tree.CheckParentNotFile(s.Path); err != nil {
			return s, err
		}
		tree.AddDir(s.Path)
	case agentos.StepDelete:
		if s.Path, err = writable(rs.Fields["path"]); err != nil {
			return s, err
		}
		if !tree.Exists(s.Path) {
			return s, agentos.Errorf(agentos.EDENIED, "%q does not exist in the base commit nor is created by an earlier step", s.Path)
		}
		tree.Remove(s.Path)
		touched[s.Path] = true
	case agentos.StepRename:
		if s.From, err = writable(rs.Fields["from"]); err != nil {
			return s, err
		}
		if s.To, err = writable(rs.Fields["to"]); err != nil {
			return s, err
		}
		if !tree.Exists(s.From) {
			return s, agentos.Errorf(agentos.EDENIED, "%q does not exist in the base commit nor is created by an earlier step", s.From)
		}
		if tree.Exists(s.To) {
			return s, agentos.Errorf(agentos.EINVALID, "rename target %q already exists", s.To)
		}
		if err := tree.CheckParentNotFile(s.To); err != nil {
			return s, err
		}
		tree.Rename(s.From, s.To)
		touched[s.From], touched[s.To] = true, true
	case agentos.StepPatch:
		s.Diff = rs.Fields["diff"]
		if !strings.HasSuffix(s.Diff, "\n") {
			s.Diff += "\n"
		}
		s.DiffHash = canonjson.Sum([]byte(s.Diff))
		changes, err := parseDiff(s.Diff)
		if err != nil {
			return s, err
		}
		overlaps := false
		for _, fc := range changes {
			for _, p := range []string{fc.Old, fc.New} {
				if p == "" {
					continue
				}
				cp, err := writable(p)
				if err != nil {
					return s, err
				}
				if cp != p {
					return s, agentos.Errorf(agentos.EDENIED, "patch path %q is not normalised (use %q)", p, cp)
				}
				if touched[cp] {
					overlaps = true
				}
			}
			switch {
			case fc.Old != "" && !tree.Exists(fc.Old):
				return s, agentos.Errorf(agentos.EDENIED, "patch changes %q, which does not exist in the base commit nor is created by an earlier step", fc.Old)
			case fc.Old == "" && tree.Exists(fc.New):
				return s, agentos.Errorf(agentos.EINVALID, "patch creates %q, which already exists", fc.New)
			}
			if fc.Old != "" && fc.New != fc.Old {
				tree.Remove(fc.Old)
				s.Paths = append(s.Paths, fc.Old)
			}
			if fc.New != "" {
				tree.AddFile(fc.New, false)
				s.Paths = append(s.Paths, fc.New)
			}
		}
		if !overlaps {
			if err := c.Repo.CheckPatch(ctx, base, []byte(s.Diff)); err != nil {
				return s, agentos.WrapError(agentos.EINVALID, err, "patch does not apply to the base commit %s: %v", base[:12], err)
			}
		}
		for _, p := range s.Paths {
			touched[p] = true
		}
	case agentos.StepExec:
		s.Argv = rs.Argv
		if s.Exe, s.Cwd, err = c.resolveCommand(tree, rs.Argv, rs.Fields["cwd"]); err != nil {
			return s, err
		}
		if t := rs.Fields["timeout"]; t != "" {
			d, _ := time.ParseDuration(t)
			s.TimeoutMS = d.Milliseconds()
		}
		for _, w := range rs.Writes {
			cp, err := writable(w)
			if err != nil {
				return s, agentos.WrapError(agentos.ErrorCode(err), err, "writes: %s", agentos.ErrorMessage(err))
			}
			if err := tree.CheckParentNotFile(cp); err != nil {
				return s, err
			}
			s.Paths = append(s.Paths, cp)
			touched[cp] = true
		}
		s.Env = rs.Env
		for k := range s.Env {
			if strings.ContainsAny(k, "=\x00") || k == "" {
				return s, agentos.Errorf(agentos.EINVALID, "env name %q is invalid", k)
			}
		}
	default:
		return s, agentos.Errorf(agentos.EINVALID, "unknown step kind %q", rs.Kind)
	}
	return s, nil
}

// resolveCommand checks argv[0] against the allowlist and resolves it to an
// existing executable; a worktree-relative program must exist in the tree.
func (c *Coordinator) resolveCommand(tree *workspace.Tree, argv []string, cwd string) (string, string, error) {
	if len(argv) == 0 {
		return "", "", agentos.Errorf(agentos.EINVALID, "empty argv")
	}
	if cwd != "" {
		cc, err := workspace.Clean(cwd)
		if err != nil {
			return "", "", err
		}
		if !tree.IsDir(cc) {
			return "", "", agentos.Errorf(agentos.EDENIED, "cwd %q is not a directory in the base commit nor created by an earlier step", cc)
		}
		cwd = cc
	}
	name := argv[0]
	if strings.Contains(name, "/") && !path.IsAbs(name) {
		if !slices.Contains(c.Config.Commands.Allow, name) {
			return "", "", agentos.Errorf(agentos.EDENIED, "command %q is not on the allowlist in agentos.yaml (commands.allow)", name)
		}
		rel, err := workspace.Clean(strings.TrimPrefix(name, "./"))
		if err != nil {
			return "", "", err
		}
		if !tree.Exists(rel) || tree.IsDir(rel) {
			return "", "", agentos.Errorf(agentos.EDENIED, "command %q does not exist in the base commit nor is created by an earlier step", name)
		}
		if err := tree.CheckNoSymlink(rel); err != nil {
			return "", "", err
		}
		return "./" + rel, cwd, nil
	}
	pol := c.confinement()
	exe, err := workspace.LookPath(name, c.Config.Commands.Allow, pol.SearchPath(c.Env), c.Repo.Dir())
	if err != nil {
		return "", "", err
	}
	// Plan time equals run time: what resolves here but could not start
	// in the sandbox is refused now, naming the setting that exposes it.
	if err := pol.Visible(exe, ""); err != nil {
		return "", "", agentos.WrapError(agentos.EDENIED, err, "command %s: %s", name, agentos.ErrorMessage(err))
	}
	if err := c.planCommandCheck(argv); err != nil {
		return "", "", err
	}
	return exe, cwd, nil
}
