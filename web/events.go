package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/agentos/agentos"
)

// change is what the audit chain gained: its new head and the tasks its new
// events name (All: too many to list, or events of no task).
type change struct {
	Seq   int64    `json:"seq"`
	Tasks []string `json:"tasks,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// merge folds a change a client has not read yet into c.
func (c change) merge(old change) change {
	c.Tasks = slices.Clone(c.Tasks) // c is every client's: never append to it in place
	c.All = c.All || old.All
	for _, t := range old.Tasks {
		if !slices.Contains(c.Tasks, t) {
			c.Tasks = append(c.Tasks, t)
		}
	}
	return c
}

// hub tells every open page what the audit chain gained. One poller reads
// the chain for all clients (not one query per client), and only while
// someone listens; each client holds a one-slot channel, so a slow client
// gets the changes it missed folded into one, and never blocks the others.
// Pages of one task refetch only when an event names it.
type hub struct {
	changes func(ctx context.Context, since int64) (change, error)
	poll    time.Duration

	mu      sync.Mutex
	clients map[chan change]struct{}
	stop    context.CancelFunc
	last    int64
	primed  bool // last was read by the running poller
	closed  bool
}

func newHub(changes func(context.Context, int64) (change, error), poll time.Duration) *hub {
	return &hub{changes: changes, poll: poll, clients: map[chan change]struct{}{}}
}

func (h *hub) subscribe() (chan change, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, false
	}
	ch := make(chan change, 1)
	h.clients[ch] = struct{}{}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.run(ctx)
	}
	return ch, h.last, true
}

// head returns the last head the poller read, and whether it is polling
// (and has read once) so that the head is at most a poll old.
func (h *hub) head() (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.stop != nil && h.primed
}

func (h *hub) unsubscribe(ch chan change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, ch)
	if len(h.clients) == 0 && h.stop != nil {
		h.stop()
		h.stop, h.primed = nil, false
	}
}

func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.poll)
	defer t.Stop()
	primed := false
	for {
		h.mu.Lock()
		since := h.last
		h.primed = primed
		h.mu.Unlock()
		if !primed {
			since = -1 // learn the head only: the pages were just rendered from it
		}
		if c, err := h.changes(ctx, since); err == nil {
			h.mu.Lock()
			switch {
			case !primed:
				h.last, primed, h.primed = c.Seq, true, true
			case c.Seq != h.last:
				h.last = c.Seq
				for ch := range h.clients {
					mine := c
					select {
					case old := <-ch:
						mine = c.merge(old)
					default:
					}
					ch <- mine
				}
			}
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
	for ch := range h.clients {
		close(ch)
		delete(h.clients, ch)
	}
}

// maxChangeEvents bounds the events one poll reads to name the changed
// tasks; past it every page refreshes.
const maxChangeEvents = 256

// chainChanges reads the audit chain's head and, past since (-1: none),
// the tasks the new events name.
func (s *Server) chainChanges(ctx context.Context, since int64) (change, error) {
	// One poll's resources end with the poll.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := s.opt.Audit(ctx)
	if err != nil {
		return change{}, err
	}
	seq, _, err := db.ChainHead(ctx)
	if err != nil || since < 0 || seq <= since {
		return change{Seq: seq}, err
	}
	evs, err := db.Events(ctx, agentos.EventFilter{FromSeq: since + 1, Limit: maxChangeEvents})
	if err != nil {
		return change{}, err
	}
	c := change{Seq: seq, All: len(evs) >= maxChangeEvents}
	for _, e := range evs {
		switch {
		case e.Task == "":
			c.All = true
		case !slices.Contains(c.Tasks, e.Task):
			c.Tasks = append(c.Tasks, e.Task)
		}
	}
	return c, nil
}

// events is the live-update stream (Server-Sent Events): an event "change"
// ({"seq", "tasks", "all"}) whenever the audit chain grows; the page then
// refetches its live parts if the change concerns it. A comment every 25s
// keeps proxies from closing the stream.
func (s *Server) events(w http.ResponseWriter, r *request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, last, ok := s.hub.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\nevent: hello\ndata: %d\n\n", last)
	fl.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case c, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		fl.Flush()
	}
}
