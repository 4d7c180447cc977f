package web

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// hub tells every open page that the audit chain grew. One poller reads
// the chain head for all clients (not one query per client), and only
// while someone listens; each client holds a one-slot channel, so a slow
// client misses intermediate heads, never blocks the others.
type hub struct {
	head func(context.Context) (int64, error)
	poll time.Duration

	mu      sync.Mutex
	clients map[chan int64]struct{}
	stop    context.CancelFunc
	last    int64
	closed  bool
}

func newHub(head func(context.Context) (int64, error), poll time.Duration) *hub {
	return &hub{head: head, poll: poll, clients: map[chan int64]struct{}{}}
}

func (h *hub) subscribe() (chan int64, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, false
	}
	ch := make(chan int64, 1)
	h.clients[ch] = struct{}{}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.run(ctx)
	}
	return ch, h.last, true
}

func (h *hub) unsubscribe(ch chan int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, ch)
	if len(h.clients) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.poll)
	defer t.Stop()
	primed := false
	for {
		if seq, err := h.head(ctx); err == nil {
			h.mu.Lock()
			// The first read only learns the head: the pages were just
			// rendered from it, so there is nothing new to tell them.
			if !primed {
				h.last, primed = seq, true
			}
			if seq != h.last {
				h.last = seq
				for ch := range h.clients {
					select {
					case <-ch: // drop the unread head: only the newest matters
					default:
					}
					ch <- seq
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

func (s *Server) chainHead(ctx context.Context) (int64, error) {
	// One poll's resources end with the poll.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := s.opt.Reader(ctx)
	if err != nil {
		return 0, err
	}
	seq, _, err := c.DB.ChainHead(ctx)
	return seq, err
}

// events is the live-update stream (Server-Sent Events): an event "change"
// with the audit chain's head whenever it grows; the page then refetches
// its live parts. A comment every 25s keeps proxies from closing it.
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
		case seq, ok := <-ch:
			if !ok {
				return
			}
			fmt.Fprintf(w, "event: change\ndata: %d\n\n", seq)
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		fl.Flush()
	}
}
