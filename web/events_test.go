package web

import (
	"context"
	"fmt"
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
