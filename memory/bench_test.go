package memory_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/sqlite"
)

// Benchmark sizes come from AGENTOS_BENCH_SIZES (comma-separated item
// counts) so that a plain `go test -bench .` stays quick:
//
//	AGENTOS_BENCH_SIZES=10000,100000,1000000 go test -run ^$ -bench . -benchtime 200x ./memory/
func benchSizes() []int {
	env := os.Getenv("AGENTOS_BENCH_SIZES")
	if env == "" {
		return []int{2000}
	}
	var out []int
	for f := range strings.SplitSeq(env, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// The synthetic corpus: ~16 words per item drawn from a Zipf vocabulary of
// 50k words, plus three planted words whose frequencies do not depend on
// the corpus drawing: "zyxrare" in 20 items, "alpha" and "beta" in 1% each,
// and "common" in half of them.
const (
	rareWord   = "zyxrare"
	commonWord = "common"
)

type corpusGen struct {
	r    *rand.Rand
	zipf *rand.Zipf
	n    int
}

func newCorpusGen(n int) *corpusGen {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	return &corpusGen{r: r, zipf: rand.NewZipf(r, 1.1, 2, 50000), n: n}
}

func word(i uint64) string { return "w" + strconv.FormatUint(i, 36) }

func (g *corpusGen) item(i int) agentos.MemoryItem {
	var b strings.Builder
	for j := range 12 + g.r.IntN(9) {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(word(g.zipf.Uint64()))
	}
	if i%2 == 0 {
		b.WriteString(" " + commonWord)
	}
	if i%100 == 7 {
		b.WriteString(" alpha")
	}
	if i%100 == 53 {
		b.WriteString(" beta")
	}
	if i%max(g.n/20, 1) == 11 {
		b.WriteString(" " + rareWord)
	}
	it := agentos.MemoryItem{Kind: agentos.MemoryFact, Text: b.String(), Confidence: 1}
	if i%10 == 0 {
		it.Scope = []string{fmt.Sprintf("pkg%d/**", i%50)}
	}
	return it
}

var (
	corpusMu     sync.Mutex
	corpora      = map[int]*sqlite.MemoryIndex{}
	benchCleanup []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range benchCleanup {
		f()
	}
	os.Exit(code)
}

// corpus builds (once per process) a store of n items in batches of 5000,
// then merges the index, and logs how long that took.
func corpus(b *testing.B, n int) *sqlite.MemoryIndex {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if ix, ok := corpora[n]; ok {
		return ix
	}
	dir, err := os.MkdirTemp("", "agentos-membench-")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Create(ctx, filepath.Join(dir, "agentos.db"))
	if err != nil {
		b.Fatal(err)
	}
	ix := db.Memory().(*sqlite.MemoryIndex)
	s := memory.NewStore(ix)
	g := newCorpusGen(n)
	start := time.Now()
	const batch = 5000
	items := make([]agentos.MemoryItem, 0, batch)
	for i := range n {
		items = append(items, g.item(i))
		if len(items) == batch || i == n-1 {
			if _, err := s.AddBatch(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	loaded := time.Since(start)
	if err := ix.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("corpus %d items: loaded in %v (%.0f items/s), optimized in %v", n, loaded.Round(time.Millisecond),
		float64(n)/loaded.Seconds(), (time.Since(start) - loaded).Round(time.Millisecond))
	corpora[n] = ix
	// Kept for the other shapes of this size; TestMain removes them.
	benchCleanup = append(benchCleanup, func() { db.Close(); os.RemoveAll(dir) })
	return ix
}

// reportLatency adds p50/p95 in milliseconds to the benchmark's results.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}

func BenchmarkSearch(b *testing.B) {
	// naive turns the tiers off (no term is ever common): the baseline
	// bm25-over-every-match that the tiers exist to avoid.
	shapes := []struct {
		name, query string
		naive       bool
	}{
		{"rare", rareWord, false},
		{"two-terms", "alpha beta", false},
		{"common", commonWord, false},
		{"common+rare", commonWord + " " + rareWord, false},
		{"common-naive", commonWord, true},
	}
	for _, n := range benchSizes() {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("n=%d/%s", n, sh.name), func(b *testing.B) {
				ix := corpus(b, n)
				if sh.naive {
					naive := *ix
					naive.CommonCap = math.MaxInt32
					ix = &naive
				}
				s := memory.NewStore(ix)
				ctx := context.Background()
				q := memory.Query{Text: sh.query, Paths: []string{"pkg3/x.go"}, Limit: 10}
				var d []time.Duration
				b.ReportAllocs()
				for b.Loop() {
					t0 := time.Now()
					hits, err := s.Search(ctx, q)
					d = append(d, time.Since(t0))
					if err != nil || len(hits) == 0 {
						b.Fatalf("Search(%q) = %d hits, %v", sh.query, len(hits), err)
					}
				}
				reportLatency(b, d)
			})
		}
	}
}

// BenchmarkBuildPack: a pack for a realistic task text (a dozen words of
// mixed frequency) with a path.
func BenchmarkBuildPack(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := memory.NewStore(corpus(b, n))
			ctx := context.Background()
			var words []string
			for i := uint64(2); i < 200; i += 17 {
				words = append(words, word(i))
			}
			q := agentos.MemoryQuery{Text: "fix the " + commonWord + " alpha " + strings.Join(words, " "), Paths: []string{"pkg3/a.go"}, BudgetBytes: 8192}
			var d []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := s.BuildPack(ctx, "t", q); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			reportLatency(b, d)
		})
	}
}

// BenchmarkInsert: items per second, one transaction per item (Add, what a
// person or a lesson does) and 1000 per transaction (AddBatch, imports).
func BenchmarkInsert(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := MustOpenStore(b)
			g := newCorpusGen(100000)
			ctx := context.Background()
			items := make([]agentos.MemoryItem, batch)
			i := 0
			for b.Loop() {
				for j := range items {
					items[j] = g.item(i)
					i++
				}
				if _, err := s.AddBatch(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
