package coordinator_test

import (
	"context"
	"sync"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/sandbox"
)

// Every command of a plan goes through the coordinator's Runner: a fake one
// sees each verify check (with the worktree it must confine to), and its
// verdict decides the run.
func TestRunnerIsTheOneExecPath(t *testing.T) {
	for _, tc := range []struct {
		name  string
		exit  int
		state agentos.State
		runs  int
	}{
		// The second task's base moved (the first landed): its check runs
		// again after the rebase.
		{"pass", 0, agentos.StateCommitted, 3},
		{"fail", 1, agentos.StateFailed, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustQueued(t, 2, "")
			defer c.DB.Close()
			var mu sync.Mutex
			var seen []sandbox.Spec
			c.Sandbox = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
				mu.Lock()
				seen = append(seen, spec)
				mu.Unlock()
				return sandbox.Result{ExitCode: tc.exit}, nil
			}
			if _, err := c.Work(t.Context(), coordinator.WorkerOptions{Workers: 1, UntilIdle: true}); err != nil {
				t.Fatal(err)
			}
			if len(seen) != tc.runs {
				t.Fatalf("the runner saw %d commands, want %d verify runs", len(seen), tc.runs)
			}
			for _, s := range seen {
				if s.Worktree == "" || s.Argv[0] == "" || s.Argv[1] != "-f" {
					t.Errorf("spec = %+v, want a confined `test -f` in a worktree", s)
				}
			}
			tasks, err := c.DB.Tasks(t.Context(), agentos.TaskFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range tasks {
				if tk.State != tc.state {
					t.Errorf("task %s is %s, want %s", tk.ID, tk.State, tc.state)
				}
			}
		})
	}
}
