package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
)

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"short": digest,
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
		"path":  s.path,
		"join":  strings.Join,
		"add":   func(a, b int) int { return a + b },
	}
	s.tmpl = map[string]*template.Template{}
	for _, page := range []string{"login", "error", "queue", "task", "review", "audit", "memory", "passkeys"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return err
		}
		s.tmpl[page] = t
	}
	return nil
}

// page is what every page's layout needs.
type page struct {
	Title string
	Who   *Identity
	CSRF  string
	Data  any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, code int, data any) {
	p := page{Title: name, Data: data}
	if m, ok := data.(map[string]any); ok && m["Title"] != nil {
		p.Title = m["Title"].(string)
	}
	s.renderPage(w, name, code, p)
}

func (s *Server) renderPage(w http.ResponseWriter, name string, code int, p page) {
	var buf bytes.Buffer
	if err := s.tmpl[name].Execute(&buf, p); err != nil {
		s.opt.Logf("web: template %s: %v", name, err)
		http.Error(w, "internal error (see the server's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (s *Server) show(w http.ResponseWriter, r *request, name, title string, data any) {
	s.renderPage(w, name, http.StatusOK, page{Title: title, Who: &r.who, CSRF: r.sess.csrf, Data: data})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// taskRow is a task as the queue lists it (texts redacted).
type taskRow struct {
	ID, State, Goal, Reason, Submitter, Updated string
}

type queueSection struct {
	ID, Title string
	Tasks     []taskRow
}

type commitRow struct{ SHA, Task, Branch string }

func (s *Server) queuePage(w http.ResponseWriter, r *request) {
	data, err := s.cached(r.Request, "queue", func() (map[string]any, error) { return s.queueData(r.Context()) })
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	s.show(w, r, "queue", "Queue", data)
}

// queueData is what the queue shows: the same for everyone who may see it.
func (s *Server) queueData(ctx context.Context) (map[string]any, error) {
	c, err := s.opt.Reader(ctx)
	if err != nil {
		return nil, err
	}
	red := redactor(c)
	sections := []struct {
		id, title string
		states    []agentos.State
	}{
		{"blocked", "Blocked on questions", []agentos.State{agentos.StateBlocked}},
		{"awaiting", "Awaiting approval", []agentos.State{agentos.StateAwaitingApproval}},
		{"running", "Running", []agentos.State{agentos.StatePlanning, agentos.StateQueued, agentos.StateApplying, agentos.StateVerifying}},
		{"failed", "Failed", []agentos.State{agentos.StateFailed}},
	}
	var out []queueSection
	for _, sec := range sections {
		qs := queueSection{ID: sec.id, Title: sec.title}
		for _, st := range sec.states {
			ts, err := c.DB.Tasks(ctx, agentos.TaskFilter{State: st, Limit: 50})
			if err != nil {
				return nil, err
			}
			for _, t := range ts {
				qs.Tasks = append(qs.Tasks, rowOf(t, red))
			}
		}
		out = append(out, qs)
	}
	var commits []commitRow
	all, err := c.DB.Commits(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0 && len(commits) < 20; i-- {
		commits = append(commits, commitRow{SHA: all[i].SHA, Task: all[i].Task, Branch: all[i].Branch})
	}
	return map[string]any{"Sections": out, "Commits": commits}, nil
}

func rowOf(t *agentos.Task, red func(string) string) taskRow {
	return taskRow{ID: t.ID, State: string(t.State), Goal: red(t.Goal), Reason: red(t.Reason), Submitter: string(t.Submitter), Updated: t.UpdatedAt.UTC().Format("2006-01-02 15:04Z")}
}

func redactor(c *coordinator.Coordinator) func(string) string {
	if c.Redact != nil {
		return c.Redact
	}
	return func(s string) string { return s }
}

// stepView is one plan step for the page.
type stepView struct {
	N         int
	Kind      string
	What      string
	Rationale string
	Risk      string
	Diff      *diffView
	Argv      string
}

type gateView struct {
	RuleID, Effect, Reason, Step string
}

type questionView struct {
	ID, Text, Why, Kind, Default string
	Options                      []string
	Blocker                      bool
}

type memoryView struct {
	ID, Kind, Text, Source, Scope string
	Score                         string
}

type approvalView struct {
	Kind, Actor, Comment, Time, Cleared string
}

func (s *Server) taskPage(w http.ResponseWriter, r *request) {
	id := r.PathValue("id")
	shared, err := s.cached(r.Request, "task:"+id, func() (map[string]any, error) { return s.taskData(r.Context(), id) })
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	// What differs by person and view goes into a copy.
	data := maps.Clone(shared)
	t := data["Task"].(*agentos.Task)
	data["View"] = r.URL.Query().Get("view")
	data["CanDecide"] = t.State == agentos.StateAwaitingApproval && r.who.Role.may(RoleApprover)
	data["CanAnswer"] = t.State == agentos.StateBlocked && r.who.Role.may(RoleAnswerer)
	s.show(w, r, "task", "Task "+t.ID, data)
}

// taskData is what a task's page shows, the same for everyone.
func (s *Server) taskData(ctx context.Context, id string) (map[string]any, error) {
	c, err := s.opt.Reader(ctx)
	if err != nil {
		return nil, err
	}
	red := redactor(c)
	t, err := c.DB.Task(ctx, id)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"Task": t, "Goal": red(t.Goal), "Request": red(t.Request), "Reason": red(t.Reason)}
	if t.IntentID != "" {
		if in, err := c.DB.Intent(ctx, t.IntentID); err == nil {
			data["Intent"] = map[string]any{"Goal": red(in.Goal), "Kind": in.Kind, "Risk": in.Risk, "Scope": in.Scope,
				"Constraints": red(strings.Join(in.Constraints, "\n")), "Acceptance": red(strings.Join(in.Acceptance, "\n")), "Hash": in.Hash}
		}
	}
	if t.PlanID != "" {
		p, _, err := c.DB.Plan(ctx, t.PlanID)
		if err != nil {
			return nil, err
		}
		var steps []stepView
		for i, st := range p.Steps {
			steps = append(steps, stepOf(i+1, st, red))
		}
		var checks []string
		for _, ch := range p.Verify {
			checks = append(checks, red(strings.Join(ch.Argv, " ")))
		}
		data["Plan"] = map[string]any{"ID": p.ID, "Hash": p.Hash, "Base": p.BaseCommit, "Policy": p.PolicyHash, "Memory": p.MemoryPackHash, "Steps": steps, "Checks": checks}
		ds, err := c.DB.GateDecisions(ctx, t.ID, p.Hash)
		if err != nil {
			return nil, err
		}
		var gates []gateView
		for _, d := range ds {
			step := "plan"
			if d.Step >= 0 {
				step = "step " + strconv.Itoa(d.Step+1)
			}
			gates = append(gates, gateView{RuleID: d.RuleID, Effect: string(d.Effect), Reason: red(d.Reason), Step: step})
		}
		data["Gates"] = gates
		if pack, err := c.DB.MemoryPackByHash(ctx, t.ID, p.MemoryPackHash); err == nil {
			var items []memoryView
			for _, it := range pack.Items {
				items = append(items, memoryView{ID: it.ID, Kind: string(it.Kind), Text: red(it.Text), Source: red(it.Source), Scope: strings.Join(it.Scope, ", "), Score: strconv.FormatFloat(it.Score, 'f', 2, 64)})
			}
			data["Memory"] = map[string]any{"Hash": pack.Hash, "Query": red(pack.Query.Text), "Items": items}
		}
	}
	if t.State == agentos.StateBlocked {
		if qp, err := c.DB.LatestQuestionPack(ctx, t.ID); err == nil {
			var qs []questionView
			for _, q := range qp.Questions {
				qs = append(qs, questionView{ID: q.ID, Text: red(q.Text), Why: red(q.Why), Kind: string(q.Kind), Default: q.Default, Options: q.Options, Blocker: q.Blocker})
			}
			data["Questions"] = map[string]any{"Pack": qp.ID, "Hash": qp.Hash, "List": qs}
		}
	}
	aps, err := c.DB.Approvals(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var avs []approvalView
	for _, a := range aps {
		avs = append(avs, approvalView{Kind: string(a.Kind), Actor: string(a.Actor), Comment: red(a.Comment), Time: a.Time.UTC().Format(time.RFC3339), Cleared: red(a.Cleared)})
	}
	data["Approvals"] = avs
	return data, nil
}

func stepOf(n int, st agentos.Step, red func(string) string) stepView {
	v := stepView{N: n, Kind: string(st.Kind), Rationale: red(st.Rationale), Risk: st.Risk}
	switch st.Kind {
	case agentos.StepPatch:
		v.What = strings.Join(st.Paths, ", ")
		v.Diff = parseDiff(red(st.Diff))
	case agentos.StepWrite:
		v.What = st.Path
		v.Diff = newFileDiff(st.Path, red(st.Content))
	case agentos.StepRename:
		v.What = st.From + " → " + st.To
	case agentos.StepExec:
		v.Argv = red(strings.Join(st.Argv, " "))
		v.What = v.Argv
	default:
		v.What = st.Path
	}
	return v
}

func (s *Server) reviewPage(w http.ResponseWriter, r *request) {
	c, err := s.opt.Reader(r.Context())
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	t, err := c.DB.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	_, md, err := c.DB.Review(r.Context(), t.ID)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	s.show(w, r, "review", "ReviewPack "+t.ID, map[string]any{"Task": t.ID, "Markdown": redactor(c)(md)})
}

type eventView struct {
	Seq                           int64
	Time, Task, Actor, Kind, Data string
	Hash                          string
}

func (s *Server) auditPage(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	c, err := s.opt.Reader(ctx)
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	task := r.URL.Query().Get("task")
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	const perPage = 100
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task, FromSeq: from, Limit: perPage + 1})
	if err != nil {
		s.fail(w, r.Request, err)
		return
	}
	next := int64(0)
	if len(evs) > perPage {
		next = evs[perPage].Seq
		evs = evs[:perPage]
	}
	red := redactor(c)
	var out []eventView
	for _, e := range evs {
		data := string(e.Data)
		if len(data) > 600 {
			data = data[:600] + "…"
		}
		out = append(out, eventView{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Task: e.Task, Actor: string(e.Actor), Kind: e.Kind, Data: red(data), Hash: e.Hash})
	}
	verified := map[string]any{}
	if s.opt.VerifyAudit != nil {
		doc, failed, err := s.opt.VerifyAudit(ctx)
		if err != nil {
			s.fail(w, r.Request, err)
			return
		}
		verified["Full"] = true
		verified["OK"] = failed == nil
		if failed != nil {
			verified["Error"] = red(agentos.ErrorMessage(failed))
		}
		if m, ok := doc.(map[string]any); ok {
			verified["Count"], verified["Commits"] = m["events"], m["commits"]
			verified["Anchored"] = fmt.Sprint(m["anchored"])
		}
	} else {
		n, verr := c.DB.VerifyChain(ctx)
		verified["OK"] = verr == nil
		verified["Count"] = n
		if verr != nil {
			verified["Error"] = red(agentos.ErrorMessage(verr))
		}
	}
	s.show(w, r, "audit", "Audit log", map[string]any{"Events": out, "Task": task, "Next": next, "Verify": verified})
}

func (s *Server) memoryPage(w http.ResponseWriter, r *request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := map[string]any{"Query": q}
	if q != "" && s.opt.Memory != nil {
		c, err := s.opt.Reader(r.Context())
		if err != nil {
			s.fail(w, r.Request, err)
			return
		}
		svc, err := s.opt.Memory(r.Context())
		if err != nil {
			s.fail(w, r.Request, err)
			return
		}
		// Every text out of the memory passes the policy's redactor.
		svc = memory.WithRedaction(svc, redactor(c))
		hits, err := svc.Search(r.Context(), memory.Query{Text: q, Limit: 25})
		if err != nil {
			s.fail(w, r.Request, err)
			return
		}
		var items []memoryView
		for _, h := range hits {
			items = append(items, memoryView{ID: h.Item.ID, Kind: string(h.Item.Kind), Text: h.Item.Text, Source: h.Item.Source, Scope: strings.Join(h.Item.Scope, ", "), Score: strconv.FormatFloat(h.Score, 'f', 2, 64)})
		}
		data["Hits"] = items
		data["Searched"] = true
	}
	data["Enabled"] = s.opt.Memory != nil
	s.show(w, r, "memory", "Memory", data)
}

// pageCache keeps what a page shows for the audit chain's current head,
// while live updates watch it: when a change makes every open page refetch
// at once, the data is read once, not once per viewer (the first request
// reads, the others wait for it). The hub learns of a new head within a
// poll, which then empties the cache.
type pageCache struct {
	mu      sync.Mutex
	seq     int64
	gen     int // bumped by forget: a build begun before it is not kept
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	done chan struct{} // closed once d and err are set
	d    map[string]any
	err  error
}

// maxCached bounds the pages kept for one head.
const maxCached = 256

// liveHeader marks the page script's refetch after a change (app.js).
const liveHeader = "X-Agentos-Live"

// cached returns key's data for the current head, building it once, for a
// live refetch; a person opening a page always gets it fresh. With no page
// listening for changes, nothing tells the cache the head moved, so it
// builds every time.
func (s *Server) cached(r *http.Request, key string, build func() (map[string]any, error)) (map[string]any, error) {
	seq, live := s.hub.head()
	if !live || r.Header.Get(liveHeader) != "1" {
		return build()
	}
	pc := &s.pages
	pc.mu.Lock()
	if pc.seq != seq || pc.entries == nil {
		pc.seq, pc.entries = seq, map[string]*cacheEntry{}
	}
	if e, ok := pc.entries[key]; ok {
		pc.mu.Unlock()
		select {
		case <-e.done:
			if e.err != nil {
				return build() // the first reader's failure may be its own (it went away)
			}
			return e.d, nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if len(pc.entries) >= maxCached {
		pc.mu.Unlock()
		return build()
	}
	e := &cacheEntry{done: make(chan struct{})}
	pc.entries[key] = e
	gen := pc.gen
	pc.mu.Unlock()
	e.d, e.err = build()
	close(e.done)
	if e.err != nil {
		// An error (this request's client went away, say) is not kept.
		pc.mu.Lock()
		if pc.gen == gen && pc.entries != nil && pc.entries[key] == e {
			delete(pc.entries, key)
		}
		pc.mu.Unlock()
	}
	return e.d, e.err
}

// forget empties the cache: this server just changed the store.
func (pc *pageCache) forget() {
	pc.mu.Lock()
	pc.entries = nil
	pc.gen++
	pc.mu.Unlock()
}
