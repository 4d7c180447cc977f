package web

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHub: one poller serves every client; a client that does not read
// gets only the newest head (never blocks the others); the first read is
// only learnt; and the poller stops when the last client leaves (else the
// bubble would never end).
func TestHub(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var head atomic.Int64
		var polls atomic.Int64
		head.Store(3)
		h := newHub(func(context.Context) (int64, error) { polls.Add(1); return head.Load(), nil }, time.Second)
		fast, _, _ := h.subscribe()
		slow, _, _ := h.subscribe()
		synctest.Wait()
		select {
		case seq := <-fast:
			t.Fatalf("got head %d before anything changed", seq)
		default:
		}
		for _, seq := range []int64{5, 6, 7} {
			head.Store(seq)
			time.Sleep(time.Second)
			synctest.Wait()
			if got := <-fast; got != seq {
				t.Fatalf("fast client got %d, want %d", got, seq)
			}
		}
		if got := <-slow; got != 7 {
			t.Fatalf("slow client got %d, want only the newest head 7", got)
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
