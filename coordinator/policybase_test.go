package coordinator_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sandbox"
)

// committedPolicy wires PolicyAt as the CLI does: agentos.yaml as committed.
func (f *fixture) committedPolicy() {
	repo, err := gitrepo.Open(f.t.Context(), f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.c.PolicyAt = func(ctx context.Context, commit string) (*config.Config, error) {
		cfg, _, err := config.AtCommit(ctx, repo.FileAt, commit, func() (*config.Config, error) { return nil, errors.New("no policy committed") })
		return cfg, err
	}
}

// commitPolicy commits an edit of agentos.yaml on main, as a person would.
func (f *fixture) commitPolicy(extra string) {
	f.t.Helper()
	p := filepath.Join(f.dir, config.FileName)
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, extra...), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.git("commit", "-q", "-am", "policy: "+extra)
}

// TestFastPolicyOfTheCommit: a task is governed by agentos.yaml as committed
// at its base. A policy committed on the target after a plan was made makes
// it stale at every later point — planning with a policy loaded before the
// commit, admission, and landing after a run during which the commit came —
// and nothing reaches main.
func TestFastPolicyOfTheCommit(t *testing.T) {
	const change = "blocked_expires_after: 72h\n"

	t.Run("plan", func(t *testing.T) {
		f := newFixture(t, fastPolicy, nil)
		f.committedPolicy()
		f.commitPolicy(change) // f.c.Config is the policy before it
		_, err := f.plan("plain.yaml", plainPlan, agentos.ModeSemiAuto, false, nil)
		wantErr(t, err, agentos.ECONFLICT, "run the command again", "plan under a policy that is no longer committed")
		if ts, _ := f.db.Tasks(t.Context(), agentos.TaskFilter{}); len(ts) != 0 {
			t.Fatalf("tasks %v were created", ts)
		}
	})

	t.Run("admit", func(t *testing.T) {
		f := newFixture(t, fastPolicy, nil)
		f.committedPolicy()
		task := f.mustPlan("plain.yaml", plainPlan)
		f.commitPolicy(change)
		_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
		wantErr(t, err, agentos.ECONFLICT, "is stale; re-plan it", "apply after a policy commit")
		// This process loaded the policy before the commit: it neither
		// re-plans with it nor fails the task; the next command re-plans.
		wantErr(t, err, agentos.ECONFLICT, "run it again to re-plan the task", "apply after a policy commit")
		f.wantState(task.ID, agentos.StateQueued)
		if _, ok := f.onMain("notes/a.txt"); ok {
			t.Fatal("a stale plan reached main")
		}
	})

	t.Run("integrate", func(t *testing.T) {
		f := newFixture(t, fastPolicy, nil)
		f.committedPolicy()
		task := f.mustPlan("plain.yaml", plainPlan)
		committed := false
		f.c.Sandbox = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
			if !committed { // a person commits a policy while the task verifies
				f.commitPolicy(change)
				committed = true
			}
			return sandbox.Result{ExitCode: 0}, nil
		}
		_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
		wantErr(t, err, agentos.ECONFLICT, "while task "+task.ID+" ran", "landing after a policy commit")
		if !committed {
			t.Fatal("the verify check never ran")
		}
		if got := f.task(task.ID); got.State == agentos.StateCommitted {
			t.Fatalf("task %s committed under a policy it was never gated by", task.ID)
		}
		if _, ok := f.onMain("notes/a.txt"); ok {
			t.Fatal("the change landed on main under a policy it was never gated by")
		}
	})

	t.Run("unchanged policy, moved base", func(t *testing.T) {
		f := newFixture(t, fastPolicy, nil)
		f.committedPolicy()
		task := f.mustPlan("plain.yaml", plainPlan)
		f.moveBase("another line")
		if _, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann")); err != nil {
			t.Fatal(err)
		}
		f.wantState(task.ID, agentos.StateCommitted)
	})
}
