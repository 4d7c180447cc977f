package web

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHub: one poller serves every client; a client that does not read
// gets what it missed folded into one change (never blocks the others); the first read is
// only learnt; and the poller stops when the last client leaves (else the
// bubble would never end).
func TestHub(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var head atomic.Int64
		var polls atomic.Int64
		head.Store(3)
		h := newHub(func(_ context.Context, since int64) (change, error) {
			polls.Add(1)
			seq := head.Load()
			c := change{Seq: seq}
			if since >= 0 && seq > since {
				c.Tasks = []string{fmt.Sprintf("t%d", seq)}
			}
			return c, nil
		}, time.Second)
		fast, _, _ := h.subscribe()
		slow, _, _ := h.subscribe()
		synctest.Wait()
		select {
		case c := <-fast:
			t.Fatalf("got %+v before anything changed", c)
		default:
		}
		for _, seq := range []int64{5, 6, 7} {
			head.Store(seq)
			time.Sleep(time.Second)
			synctest.Wait()
			if got := <-fast; got.Seq != seq || len(got.Tasks) != 1 || got.Tasks[0] != fmt.Sprintf("t%d", seq) {
				t.Fatalf("fast client got %+v, want head %d naming t%d", got, seq, seq)
			}
		}
		if got := <-slow; got.Seq != 7 || len(got.Tasks) != 3 {
			t.Fatalf("slow client got %+v, want one change: head 7 naming t5, t6 and t7", got)
		}
		if n := polls.Load(); n != 4 {
			t.Fatalf("%d polls for two clients over 3s, want 4 (one poller)", n)
		}
		h.unsubscribe(fast)
		h.unsubscribe(slow)
		before := polls.Load()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if polls.Load() != before {
			t.Fatal("the poller kept polling with no client")
		}
	})
}

// TestPageCache: live refetches for one head read the store once; a new
// head, a page opened by a person, or a decision made here reads again.
func TestPageCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var head atomic.Int64
		head.Store(1)
		s := &Server{}
		s.hub = newHub(func(context.Context, int64) (change, error) { return change{Seq: head.Load()}, nil }, time.Second)
		ch, _, _ := s.hub.subscribe()
		synctest.Wait()
		builds := 0
		build := func() (map[string]any, error) { builds++; return map[string]any{"n": builds}, nil }
		live, _ := http.NewRequest("GET", "/", nil)
		live.Header.Set(liveHeader, "1")
		fresh, _ := http.NewRequest("GET", "/", nil)
		for range 3 {
			s.cached(live, "queue", build)
		}
		if builds != 1 {
			t.Fatalf("3 live refetches at one head built %d times, want 1", builds)
		}
		s.cached(fresh, "queue", build)
		if builds != 2 {
			t.Fatalf("a page opened by a person was served from the cache")
		}
		head.Store(2)
		time.Sleep(time.Second)
		synctest.Wait()
		<-ch
		s.cached(live, "queue", build)
		if builds != 3 {
			t.Fatalf("a new head was served from the cache")
		}
		s.pages.forget()
		s.cached(live, "queue", build)
		if builds != 4 {
			t.Fatalf("after forget the cache still served")
		}
		s.hub.unsubscribe(ch)
	})
}
