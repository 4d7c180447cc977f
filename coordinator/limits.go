package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"unsafe"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planfile"
)

// Size limits (agentos.yaml limits:, docs/limits.md). Each is checked
// before what it bounds is stored or audited, so an oversized input leaves
// nothing behind but the refusal.

func tooLarge(what string, n, limit int64, setting string) error {
	return agentos.Errorf(agentos.EINVALID, "%s is %s, more than the %s limit: shorten it, or raise limits.%s in %s",
		what, config.SizeOf(n), config.SizeOf(limit), setting, agentos.PolicyFile)
}

// readPlanFile reads a plan file, refusing one larger than
// limits.plan_file_bytes without reading past the limit.
// The file is read once into a string of its size (it becomes the task's
// source as it is), never grown by doubling.
func (c *Coordinator) readPlanFile(name string) (string, error) {
	b, err := c.readPlanBytes(name)
	return unsafe.String(unsafe.SliceData(b), len(b)), err // b is never written again
}

// readPlanBytes is readPlanFile into a buffer the caller owns.
func (c *Coordinator) readPlanBytes(name string) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, agentos.Errorf(agentos.EINVALID, "plan file %s does not exist", name)
		}
		return nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
	}
	defer fh.Close()
	limit := c.Config.Limits.PlanFile()
	n := 512
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		if st.Size() > limit {
			return nil, tooLarge("plan file "+name, st.Size(), limit, "plan_file_bytes")
		}
		n = int(st.Size()) + 1
	}
	raw := make([]byte, 0, n)
	r := io.LimitReader(fh, limit+1)
	for {
		if len(raw) == cap(raw) {
			raw = append(raw, 0)[:len(raw)] // grew, or not a regular file
		}
		m, err := r.Read(raw[len(raw):cap(raw)])
		raw = raw[:len(raw)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
		}
	}
	if int64(len(raw)) > limit { // grew, or not a regular file
		return nil, agentos.Errorf(agentos.EINVALID, "plan file %s is more than the %s limit: shorten it, or raise limits.plan_file_bytes in %s",
			name, config.SizeOf(limit), agentos.PolicyFile)
	}
	return raw, nil
}

// planTextAgainHook, when set by a test, runs before planTextAgain reads.
var planTextAgainHook func()

// planTextAgain reads a plan file again for its text, which must be what
// was planned (hash, agentos.BlobHash of the first read).
func (c *Coordinator) planTextAgain(name, hash string) (string, error) {
	if planTextAgainHook != nil {
		planTextAgainHook()
	}
	raw, err := c.readPlanFile(name)
	if err != nil {
		return "", err
	}
	if agentos.BlobHash(raw) != hash {
		return "", agentos.Errorf(agentos.ECONFLICT, "plan file %s changed while it was read: plan it again once it is written", name)
	}
	return raw, nil
}

// parsePlanAgain parses a plan file read once more, in place, for a task
// whose source is stored: the file must still hash as planned.
func (c *Coordinator) parsePlanAgain(name, hash string) (*planfile.File, error) {
	buf, err := c.readPlanBytes(name)
	if err != nil {
		return nil, err
	}
	if agentos.BlobHash(unsafe.String(unsafe.SliceData(buf), len(buf))) != hash {
		return nil, agentos.Errorf(agentos.ECONFLICT, "plan file %s changed while it was read: plan it again once it is written", name)
	}
	f, ok, _, perr := planfile.ParseLargeInPlace(buf)
	if !ok || perr != nil { // the same bytes parsed before
		return nil, agentos.Errorf(agentos.ECONFLICT, "plan file %s did not parse again as it did: plan it again", name)
	}
	return f, nil
}

// requestSource parses the plan text of req (see parsePlanFile): its
// Source, under the same limit as a file, else the file it names.
func (c *Coordinator) requestSource(req PlanRequest) (f *planfile.File, raw, again string, perr, err error) {
	if req.Source == nil {
		return c.parsePlanFile(req.File)
	}
	if limit := c.Config.Limits.PlanFile(); int64(len(*req.Source)) > limit {
		return nil, "", "", nil, tooLarge("plan "+req.File, int64(len(*req.Source)), limit, "plan_file_bytes")
	}
	f, perr = planfile.ParseString(*req.Source)
	return f, *req.Source, "", perr, nil
}

// parsePlanFile parses a plan file and returns it with its text (the
// task's source, kept as submitted). A regular file of agentos.StreamMin or
// more is read once, and its large scalars are decoded beside the YAML
// parser, not by it (planfile.ParseLarge: a scalar whose text is its value
// is not even copied). One the pre-pass leaves to the parser is parsed as
// it is read and then read again for its text, which must hash the same:
// the YAML parser holds a large scalar about three times while it reads
// it, and the text need not be in memory beside that. perr is the file's
// own fault (it does not parse), audited with its text; err is one
// reading it.
//
// A block scalar is decoded in place, over the file's text in the buffer
// it was read into (planfile.ParseLargeInPlace), so the text and the value
// are never held side by side; the text is then gone, and again is its
// hash: PlanFile reads the file again for the task's source (and once more
// for the values once the source is stored), each read hashed the same.
func (c *Coordinator) parsePlanFile(name string) (f *planfile.File, raw, again string, perr, err error) {
	limit := c.Config.Limits.PlanFile()
	st, serr := os.Stat(name)
	if serr != nil || !st.Mode().IsRegular() || st.Size() < agentos.StreamMin || st.Size() > limit {
		// Small, not a file (a pipe is read once), or refused unread.
		if raw, err = c.readPlanFile(name); err != nil {
			return nil, "", "", nil, err
		}
		f, perr = planfile.ParseString(raw)
		return f, raw, "", perr, nil
	}
	defer largeBodyGC(int(st.Size()))()
	buf, err := c.readPlanBytes(name)
	if err != nil {
		return nil, "", "", nil, err
	}
	hash := agentos.BlobHash(unsafe.String(unsafe.SliceData(buf), len(buf)))
	if f, ok, kept, perr := planfile.ParseLargeInPlace(buf); ok {
		if kept {
			return f, unsafe.String(unsafe.SliceData(buf), len(buf)), "", perr, nil
		}
		if perr != nil {
			f = nil
		}
		return f, "", hash, perr, nil
	}
	buf = nil
	releaseLarge(int(st.Size()))
	fh, err := os.Open(name)
	if err != nil {
		return nil, "", "", nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
	}
	h := sha256.New()
	r := &io.LimitedReader{R: io.TeeReader(fh, h), N: limit + 1}
	f, perr = planfile.ParseReader(r)
	_, err = io.Copy(io.Discard, r) // what the parser left unread
	fh.Close()
	if err != nil {
		return nil, "", "", nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
	}
	// Read again: the text (and the refusal of one grown past the limit).
	if raw, err = c.readPlanFile(name); err != nil {
		return nil, "", "", nil, err
	}
	if "sha256:"+hex.EncodeToString(h.Sum(nil)) != agentos.BlobHash(raw) {
		return nil, "", "", nil, agentos.Errorf(agentos.ECONFLICT, "plan file %s changed while it was read: plan it again once it is written", name)
	}
	if perr != nil {
		f = nil
	}
	return f, raw, "", perr, nil
}

// taskSource returns the plan file a task was submitted with; a store
// keeps a large one as a blob, read only here.
func (c *Coordinator) taskSource(ctx context.Context, t *agentos.Task) (string, error) {
	if t.SourceBlob == "" {
		return t.Source, nil
	}
	return c.DB.Blob(ctx, t.SourceBlob)
}

// checkGoal bounds a task's goal and request text.
func (c *Coordinator) checkGoal(t *agentos.Task) error {
	limit := c.Config.Limits.Goal()
	if n := int64(len(t.Goal)); n > limit {
		return tooLarge("the goal", n, limit, "goal_bytes")
	}
	if t.Planner != "file" {
		if n := int64(len(t.Request)); n > limit {
			return tooLarge("the request", n, limit, "goal_bytes")
		}
	}
	return nil
}

// checkTaskInput bounds what a new task brings: its goal and request, its
// labels and source name, and the answers given up front. Every front door
// (CLI, API, MCP, plan file) creates a task through startTask, which calls
// it before anything is stored.
func (c *Coordinator) checkTaskInput(t *agentos.Task, upfront map[string]string) error {
	if err := c.checkGoal(t); err != nil {
		return err
	}
	if err := checkLabels(t.Labels); err != nil {
		return err
	}
	if err := checkSourceName(t.SourcePath); err != nil {
		return err
	}
	return c.checkAnswers(upfront)
}

// tooLargeFixed is tooLarge for a limit that has no setting.
func tooLargeFixed(what string, n, limit int64) error {
	return agentos.Errorf(agentos.EINVALID, "%s is %s, more than the %s limit: shorten it (the limit is fixed)",
		what, config.SizeOf(n), config.SizeOf(limit))
}

// checkLabels bounds a task's labels: each, and how many.
func checkLabels(labels []string) error {
	if len(labels) > config.MaxLabels {
		return agentos.Errorf(agentos.EINVALID, "the task has %d labels, more than the %d allowed: use fewer (the limit is fixed)", len(labels), config.MaxLabels)
	}
	for i, l := range labels {
		if n := int64(len(l)); n > config.MaxLabelBytes {
			return tooLargeFixed(fmt.Sprintf("label %d of %d", i+1, len(labels)), n, config.MaxLabelBytes)
		}
	}
	return nil
}

// checkSourceName bounds the name a plan is submitted under; PlanFile
// checks it first, as a refusal of the plan is audited with it.
func checkSourceName(name string) error {
	if n := int64(len(name)); n > config.MaxSourceNameBytes {
		return tooLargeFixed("the plan's name", n, config.MaxSourceNameBytes)
	}
	return nil
}

// checkComment bounds a reason or comment a person records with a
// decision (what names it in the message).
func (c *Coordinator) checkComment(what, text string) error {
	if n, limit := int64(len(text)), c.Config.Limits.Comment(); n > limit {
		return tooLarge(what, n, limit, "comment_bytes")
	}
	return nil
}

// The prose a plan's author writes beside its steps (a plan file, a model,
// a contractor) is stored with the plan, its intent and its questions: each
// piece is bounded like a person's comment (limits.comment_bytes), a goal
// like a goal. A plan file is checked before its task exists (PlanFile); a
// model's intent as it arrives (planRequest), its plan where every planner's
// plan enters (storePlan) and its questions where they are asked
// (resolveQuestions): the task then fails at planning, with its ReviewPack
// and without the text.

// checkFileText bounds a plan file's rationales and questions.
func (c *Coordinator) checkFileText(f *planfile.File) error {
	for i, s := range f.Steps {
		if err := c.checkComment(fmt.Sprintf("step %d's rationale", i+1), s.Rationale); err != nil {
			return err
		}
	}
	qs := make([]agentos.Question, len(f.Params))
	for i, p := range f.Params {
		qs[i] = p.AsQuestion()
	}
	return c.checkQuestionText(qs)
}

// checkPlanText bounds a plan's goal and its steps' rationales.
func (c *Coordinator) checkPlanText(p *agentos.Plan) error {
	if n, limit := int64(len(p.Goal)), c.Config.Limits.Goal(); n > limit {
		return tooLarge("the plan's goal", n, limit, "goal_bytes")
	}
	for i, s := range p.Steps {
		if err := c.checkComment(fmt.Sprintf("step %d's rationale", i+1), s.Rationale); err != nil {
			return err
		}
	}
	return nil
}

// checkIntentText bounds what a model's intent says: its goal, and each
// constraint, acceptance criterion and assumption.
func (c *Coordinator) checkIntentText(in *agentos.Intent) error {
	if n, limit := int64(len(in.Goal)), c.Config.Limits.Goal(); n > limit {
		return tooLarge("the intent's goal", n, limit, "goal_bytes")
	}
	for _, l := range []struct {
		what  string
		items []string
	}{{"constraint", in.Constraints}, {"acceptance criterion", in.Acceptance}, {"assumption", in.Assumptions}} {
		for i, x := range l.items {
			if err := c.checkComment(fmt.Sprintf("the intent's %s %d", l.what, i+1), x); err != nil {
				return err
			}
		}
	}
	return c.checkQuestionText(in.OpenQuestions)
}

// checkQuestionText bounds each question's text and why (as a comment) and
// its options and default (as answers: each may become one).
func (c *Coordinator) checkQuestionText(qs []agentos.Question) error {
	answer := c.Config.Limits.Answer()
	for i, q := range qs {
		if err := c.checkComment(fmt.Sprintf("the text of question %d", i+1), q.Text); err != nil {
			return err
		}
		if err := c.checkComment(fmt.Sprintf("the why of question %d", i+1), q.Why); err != nil {
			return err
		}
		for _, v := range append([]string{q.Default}, q.Options...) {
			if n := int64(len(v)); n > answer {
				return tooLarge(fmt.Sprintf("an option or the default of question %d", i+1), n, answer, "answer_bytes")
			}
		}
	}
	return nil
}

// checkAnswerPack bounds each answer's value and note.
func (c *Coordinator) checkAnswerPack(ap agentos.AnswerPack) error {
	if err := c.checkAnswers(answerValues(ap)); err != nil {
		return err
	}
	for _, a := range ap.Answers {
		if err := c.checkComment(fmt.Sprintf("the note on the answer to %q", a.Question), a.Note); err != nil {
			return err
		}
	}
	return nil
}

// checkAnswers bounds each answer value.
func (c *Coordinator) checkAnswers(values map[string]string) error {
	limit := c.Config.Limits.Answer()
	for _, id := range sortedKeys(values) {
		if n := int64(len(values[id])); n > limit {
			return tooLarge(fmt.Sprintf("the answer to %q", id), n, limit, "answer_bytes")
		}
	}
	return nil
}

// checkStepSizes bounds each step's content (a write's bytes, a patch's
// diff) in a plan from any planner.
func (c *Coordinator) checkStepSizes(p *agentos.Plan) error {
	limit := c.Config.Limits.File()
	for i, s := range p.Steps {
		n := int64(max(len(s.Content), len(s.Diff)))
		if n > limit {
			return tooLarge(fmt.Sprintf("step %d (%s %s)", i+1, s.Kind, s.Path), n, limit, "file_bytes")
		}
	}
	return nil
}

// largeBodyGC makes the garbage collector run at 25% heap growth instead of
// 100% while a body of agentos.StreamMin or more is in hand, and returns
// the call that restores the setting. Parsing, diffing and scanning a large
// body make transient copies; at the default the heap may reach twice what
// is live before they are collected. Marking a few large pointer-free
// buffers is cheap, so the extra collections cost little.
func largeBodyGC(n int) (restore func()) {
	if n < agentos.StreamMin {
		return func() {}
	}
	return agentos.LowerGC(25)
}

// releaseLarge hands the memory of a body of n bytes just dropped back to
// the operating system when n is agentos.StreamMin or more: a collection
// now, and the freed pages returned, so the next large buffer (a diff, the
// scan's decoded view) is not added on top of the last one's garbage and
// of pages the runtime would keep (measured: without it a 64 MiB write's
// apply peaked at 4.5× the file, with the live heap at 2×).
func releaseLarge(n int) {
	if n >= agentos.StreamMin {
		debug.FreeOSMemory()
	}
}

// largestBody is the largest step content or diff of p.
func largestBody(p *agentos.Plan) int {
	n := 0
	for _, s := range p.Steps {
		n = max(n, len(s.Content), len(s.Diff))
	}
	return n
}

// recorded is text from a model or an agent as an audit event keeps it as
// evidence (its tool calls, an unusable answer): redacted, then cut to
// agentos.MaxRecordedText with the whole text's size and digest.
func (c *Coordinator) recorded(s string) string {
	return agentos.Head(c.redactText(s), agentos.MaxRecordedText)
}
