package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
)

// BenchmarkServe10kTasks measures the API's latency with 10,000 tasks in
// the store: the task list's first page and one task's page (the task, its
// plan, the gates' decisions), over real HTTP against the real binary.
// Report: p50-ms and p95-ms of each (no assertion on time).
func BenchmarkServe10kTasks(b *testing.B) {
	s := startAPI(b, "--rate", "100000", "--burst", "100000")
	// One real task, planned and gated through the API.
	r := s.call("sam", "POST", "/api/v1/tasks", "", nil, map[string]any{"plan": fmt.Sprintf(ciPlan, "bench")})
	if r.Status != 201 {
		b.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	task := r.json(nil)["task"].(map[string]any)["id"].(string)
	// 9,999 more, written straight into the store as a busy queue would
	// have them.
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(s.repo, ".agentos", "agentos.db"))
	if err != nil {
		b.Fatal(err)
	}
	states := []agentos.State{agentos.StateCommitted, agentos.StateFailed, agentos.StateQueued, agentos.StateBlocked, agentos.StateAwaitingApproval}
	for i := range 9999 {
		t := &agentos.Task{ID: fmt.Sprintf("tb%07d", i), State: states[i%len(states)], Mode: agentos.ModeSemiAuto, Goal: fmt.Sprintf("bench task %d", i),
			Planner: "file", Submitter: agentos.Human("sam"), Labels: []string{}, Target: "main"}
		if err := db.CreateTask(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	measure := func(b *testing.B, path string) {
		var ds []time.Duration
		for b.Loop() {
			req, _ := http.NewRequest("GET", s.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+s.tok["vic"])
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(start))
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds())/1000, "p95-ms")
	}
	b.Run("list", func(b *testing.B) { measure(b, "/api/v1/tasks") })
	b.Run("list-queued", func(b *testing.B) { measure(b, "/api/v1/tasks?state=queued&limit=50") })
	b.Run("page", func(b *testing.B) { measure(b, "/api/v1/tasks/"+task) })
}
