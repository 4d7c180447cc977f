//go:build linux

package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// requireCgroups skips where the machine has no cgroup for runs, except in
// CI, where a missing cgroup is a failure.
func requireCgroups(t *testing.T) []string {
	t.Helper()
	parents := sandbox.CgroupParents()
	if len(parents) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no cgroup controller for runs on this machine (see agentos sandbox check)")
		}
		t.Skip("no cgroup controller for runs here")
	}
	return parents
}

// ownGroups lists the run groups of this process that exist now.
func ownGroups(parents []string) []string {
	var out []string
	for _, p := range parents {
		m, _ := filepath.Glob(filepath.Join(p, fmt.Sprintf("agentos-%d-*", os.Getpid())))
		out = append(out, m...)
	}
	return out
}

func TestCgroupRemovedAfterRun(t *testing.T) {
	b := newBox(t)
	parents := requireCgroups(t)
	t.Run("the command runs inside its own group", func(t *testing.T) {
		out, res, err := b.sh(t, `cat /proc/self/cgroup`)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		if !strings.Contains(out, fmt.Sprintf("agentos-%d-", os.Getpid())) {
			t.Fatalf("not in a run group: %q", out)
		}
	})
	t.Run("after an ordinary exit", func(t *testing.T) {
		b.sh(t, `sleep 30 & sleep 30 & exit 3`)
		if left := ownGroups(parents); len(left) > 0 {
			t.Fatalf("groups left behind: %v", left)
		}
	})
	t.Run("after a timeout kill", func(t *testing.T) {
		s := b.spec(t, "/bin/sh", "-c", `sleep 60 & sleep 60 & wait`)
		s.Timeout = 200 * time.Millisecond
		_, res, _ := b.run(t, s)
		if !res.TimedOut {
			t.Fatalf("want a timeout: %+v", res)
		}
		if left := ownGroups(parents); len(left) > 0 {
			t.Fatalf("groups left behind: %v", left)
		}
	})
	t.Run("agentos's own threads stay out of the run's group", func(t *testing.T) {
		// The helper is started from a thread inside the group (no
		// process migration after its start); that thread must be back
		// before anything else runs on it.
		for range 3 {
			b.sh(t, `true`)
		}
		tasks, _ := filepath.Glob("/proc/self/task/*/cgroup")
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), fmt.Sprintf("agentos-%d-", os.Getpid())) {
				t.Fatalf("%s: %s", f, b)
			}
		}
		if len(tasks) == 0 {
			t.Fatal("no threads listed")
		}
	})
	t.Run("a dead agentos's group is swept", func(t *testing.T) {
		// pid_max is at most 2^22: this pid cannot be alive.
		stale := filepath.Join(parents[0], "agentos-4194305-1")
		must(t, os.Mkdir(stale, 0o700))
		t.Cleanup(func() { os.Remove(stale) })
		b.sh(t, `true`)
		if _, err := os.Stat(stale); err == nil {
			t.Fatalf("%s still exists", stale)
		}
	})
}

func TestLimitsRefusedWhenUnenforceable(t *testing.T) {
	cases := []struct {
		feature string
		limits  sandbox.Limits
	}{
		{"cgroup pids", sandbox.Limits{Processes: 64}},
		{"cgroup memory", sandbox.Limits{Memory: 512 << 20}},
		{"cgroup cpu", sandbox.Limits{CPU: time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.feature, func(t *testing.T) {
			b := newBox(t)
			defer sandbox.DisableForTest(tc.feature)()
			s := b.spec(t, "/bin/sh", "-c", `echo ran > ran`)
			s.Limits = tc.limits
			_, _, err := b.run(t, s)
			if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "enforce: best_effort") {
				t.Fatalf("err = %v, want a refusal naming enforce: best_effort", err)
			}
			if _, err := os.Stat(filepath.Join(b.wt, "ran")); err == nil {
				t.Fatal("the command ran")
			}
			s.Limits.BestEffort = true
			if _, res, err := b.run(t, s); err != nil || res.ExitCode != 0 {
				t.Fatalf("best_effort did not run: %+v %v", res, err)
			}
			os.Remove(filepath.Join(b.wt, "ran"))
			// The defaults (no explicit limit) are best effort by nature.
			s.Limits = sandbox.Limits{}
			if _, res, err := b.run(t, s); err != nil || res.ExitCode != 0 {
				t.Fatalf("default limits refused: %+v %v", res, err)
			}
		})
	}
	t.Run("processes above the pid namespace floor need no cgroup", func(t *testing.T) {
		defer sandbox.DisableForTest("cgroup pids")()
		b := newBox(t)
		s := b.spec(t, "/bin/true")
		s.Limits.Processes = 500
		if _, res, err := b.run(t, s); err != nil || res.ExitCode != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
}
