package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
)

// BenchmarkAppend measures audit appends, one event per transaction: from
// one handle, and from several handles at once on the same database (as
// several worker processes append). open(b) follows Run's contract: a new
// handle on b's database. Figures only; nothing here asserts a time.
func BenchmarkAppend(b *testing.B, open func(b *testing.B) agentos.Store) {
	ev := agentos.EventInput{Task: "t", Actor: agentos.System, Kind: "bench", Data: map[string]any{"step": 1, "ok": true}}
	b.Run("serial", func(b *testing.B) {
		st := open(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Append(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if _, err := st.VerifyChain(ctx); err != nil {
			b.Fatal(err)
		}
	})
	for _, workers := range []int{4} {
		b.Run(fmt.Sprintf("handles=%d", workers), func(b *testing.B) {
			handles := make([]agentos.Store, workers)
			for i := range handles {
				handles[i] = open(b)
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w, h := range handles {
				n := b.N / workers
				if w < b.N%workers {
					n++
				}
				wg.Go(func() {
					for range n {
						if _, err := h.Append(ctx, ev); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkClaims measures what a worker's claim costs under contention:
// 4 handles (as 4 worker processes) each take, one after another, the lease
// of a task of its own (its task key and one file key on main, all or
// nothing) and release it. Reports the claim latency p50 and p95 in
// microseconds and claims/s over all handles.
func BenchmarkClaims(b *testing.B, open func(b *testing.B) agentos.Store) {
	const workers = 4
	handles := make([]agentos.Store, workers)
	for i := range handles {
		handles[i] = open(b)
	}
	lat := make([][]time.Duration, workers)
	errs := make(chan error, workers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w, h := range handles {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		m := lock.New(h, time.Now)
		wg.Go(func() {
			for i := range n {
				task := fmt.Sprintf("w%dt%d", w, i)
				t0 := time.Now()
				held, err := m.Acquire(ctx, fmt.Sprint("worker-", w), []string{lock.TaskKey(task), lock.FileKey("main", task+".txt")}, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				if err := held.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.95), "p95-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "claims/s")
}
