package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/agentos/agentos"
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
