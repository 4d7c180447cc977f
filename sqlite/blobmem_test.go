package sqlite

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Storing a large body allocates a chunk's buffer, not a copy of the body
// a chunk at a time (garbage the size of the blob, which the collector
// let pile up on top of the body: a 64 MiB plan's peak).
func TestPutBlobReusesOneChunk(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	const size = 16 << 20
	src := "version: 1\n# " + strings.Repeat("y", size) + "\n"
	task := &agentos.Task{ID: "t1", Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("a"), Target: "main", Source: src}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := db.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(size) / 4; got > limit {
		t.Fatalf("storing a %d MiB source allocated %.2f× it, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
	}
	t.Logf("storing a %d MiB source allocated %.3f× it", size>>20, float64(got)/size)
	if b, err := db.Blob(ctx, agentos.BlobHash(src)); err != nil || b != src {
		t.Fatalf("blob read back: %v (%d bytes)", err, len(b))
	}
}

// A plan read without its bodies reads no blob: a plan with a 16 MiB
// write costs what its small fields cost.
func TestPlanWithoutBodiesReadsNoBlob(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	task := &agentos.Task{ID: "t1", Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("a"), Target: "main"}
	if err := db.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	p := &agentos.Plan{Version: 1, ID: "p1", Task: "t1", Goal: "g", Verify: []agentos.Check{},
		Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: "big.txt", Content: strings.Repeat("x", size)}}}
	if err := db.SavePlan(ctx, p, agentos.System); err != nil {
		t.Fatal(err)
	}
	var got *agentos.Plan
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, hash, err := db.PlanWithoutBodies(ctx, "p1")
	runtime.ReadMemStats(&after)
	if err != nil || hash != p.Hash || got.Steps[0].Path != "big.txt" || got.Steps[0].Content != "" {
		t.Fatalf("plan without bodies: %v, hash %s, steps %+v", err, hash, got.Steps)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("reading a plan without its 16 MiB body allocated %.1f MiB", float64(n)/(1<<20))
	}
}
