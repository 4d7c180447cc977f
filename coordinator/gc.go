package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// EventWorktreeRemoved is audited for each retained worktree housekeeping
// removes.
const EventWorktreeRemoved = agentos.EventWorktreeRemoved

// WorktreeRemoved is the data of an EventWorktreeRemoved event.
type WorktreeRemoved = agentos.WorktreeRemovedEvent

// GCExpired is a task blocked longer than blocked_expires_after.
type GCExpired struct {
	Task string `json:"task"`
	// BlockedSince is when the task last changed state (it has been blocked
	// since).
	BlockedSince time.Time `json:"blocked_since"`
	// Reason is the cancellation reason recorded on the task.
	Reason string `json:"reason"`
}

// GCWorktree is the worktree of a task that ended longer ago than
// retention.worktrees.
type GCWorktree struct {
	Task    string        `json:"task"`
	State   agentos.State `json:"state"`
	EndedAt time.Time     `json:"ended_at"`
	Path    string        `json:"path"` // relative to the repository root
	Branch  string        `json:"branch,omitempty"`

	dir string
}

// GCReport is what housekeeping did or, in a dry run, would do: the
// document of `agentos gc --json`.
type GCReport struct {
	Version   int          `json:"version"`
	DryRun    bool         `json:"dry_run"`
	Expired   []GCExpired  `json:"expired"`
	Worktrees []GCWorktree `json:"worktrees"`
	// Caches are build caches of earlier policies unused for a day
	// (relative to the repository root).
	Caches []string `json:"caches"`
	// Bases are idle base checkouts of copy-on-write worktrees beyond the
	// few kept, least recently used first.
	Bases []GCBase `json:"bases"`
}

// staleCacheAge is how long a build cache of another policy stays after
// its last use.
const staleCacheAge = 24 * time.Hour

// GC does the housekeeping the policy asks for: it cancels the tasks
// blocked longer than blocked_expires_after (each a transition by actor,
// with a ReviewPack) and removes the worktrees (and branches) of tasks that
// ended longer ago than retention.worktrees (each audited as
// EventWorktreeRemoved). A commit still waiting on its branch keeps the
// branch. With dryRun it only lists what it would do and changes nothing.
//
// Only write verbs, the worker and `agentos gc` call it: read verbs never
// change the store.
//
// GC sweeps every ended task past retention (what `agentos gc` asks for);
// Housekeep, which write commands run when they start, only the tasks that
// ended since the last sweep.
func (c *Coordinator) GC(ctx context.Context, actor agentos.Actor, dryRun bool) (*GCReport, error) {
	return c.gc(ctx, actor, dryRun, false)
}

// Housekeep is GC as every write command does it on start: its cost
// follows what ended since the last sweep, never the number of past tasks
// or kept worktrees (a mark in the state directory says how far the
// sweeps got).
func (c *Coordinator) Housekeep(ctx context.Context, actor agentos.Actor) (*GCReport, error) {
	return c.gc(ctx, actor, false, true)
}

func (c *Coordinator) gc(ctx context.Context, actor agentos.Actor, dryRun, sinceMark bool) (*GCReport, error) {
	rep := &GCReport{Version: 1, DryRun: dryRun, Expired: []GCExpired{}, Worktrees: []GCWorktree{}, Caches: []string{}, Bases: []GCBase{}}
	expired, err := c.expiredBlocked(ctx)
	if err != nil {
		return rep, err
	}
	for _, e := range expired {
		if !dryRun {
			reason := e.Reason
			t := e.task
			if _, err := c.transition(ctx, t, agentos.StateCancelled, actor, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Expired: true}); err != nil {
				if agentos.ErrorCode(err) == agentos.ECONFLICT {
					continue // answered or cancelled meanwhile
				}
				return rep, err
			}
			if _, err := c.writeReview(ctx, t, nil); err != nil {
				return rep, err
			}
		}
		rep.Expired = append(rep.Expired, e.GCExpired)
	}
	retained, before, err := c.retainedWorktrees(ctx, sinceMark)
	if err != nil {
		return rep, err
	}
	for _, w := range retained {
		if !dryRun {
			c.removeTree(ctx, w.dir, w.Branch)
			if _, err := os.Stat(w.dir); err == nil {
				return rep, agentos.Errorf(agentos.EINTERNAL, "cannot remove the worktree of %s at %s: remove it by hand, then run `git worktree prune`", w.Task, w.dir)
			}
			if _, err := c.DB.Append(ctx, agentos.EventInput{Task: w.Task, Actor: actor, Kind: EventWorktreeRemoved,
				Data: WorktreeRemoved{Path: w.Path, Branch: w.Branch, Retention: c.Config.Retention.Worktrees}}); err != nil {
				return rep, err
			}
		}
		rep.Worktrees = append(rep.Worktrees, w)
	}
	if !dryRun && !before.IsZero() {
		// Every ended task before this instant has been swept.
		c.setSweepMark(before)
	}
	bases, err := c.pruneBases(dryRun, !sinceMark)
	rep.Bases = append(rep.Bases, bases...)
	if err != nil {
		return rep, err
	}
	for _, dir := range sandbox.StaleCaches(c.Repo.Dir(), c.confinement().CacheDir, c.Now().Add(-staleCacheAge)) {
		if !dryRun {
			if err := os.RemoveAll(dir); err != nil {
				return rep, agentos.WrapError(agentos.EINTERNAL, err, "cannot remove the stale build cache %s: %v", dir, err)
			}
		}
		rel, err := filepath.Rel(c.Repo.Dir(), dir)
		if err != nil {
			rel = dir
		}
		rep.Caches = append(rep.Caches, rel)
	}
	return rep, nil
}

type expiredTask struct {
	GCExpired
	task *agentos.Task
}

// expiredBlocked lists the tasks blocked longer than blocked_expires_after.
func (c *Coordinator) expiredBlocked(ctx context.Context) ([]expiredTask, error) {
	if c.Config.BlockedExpiresAfter == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(c.Config.BlockedExpiresAfter)
	if err != nil || d <= 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: blocked_expires_after %q is not a duration (e.g. 72h)", c.Config.BlockedExpiresAfter)
	}
	ts, err := c.DB.Tasks(ctx, agentos.TaskFilter{State: agentos.StateBlocked})
	if err != nil {
		return nil, err
	}
	var out []expiredTask
	now := c.Now()
	for _, t := range ts {
		if now.Sub(t.UpdatedAt) < d {
			continue
		}
		reason := fmt.Sprintf("blocked longer than blocked_expires_after (%s) waiting on: %s", d, t.Reason)
		out = append(out, expiredTask{GCExpired{Task: t.ID, BlockedSince: t.UpdatedAt, Reason: reason}, t})
	}
	return out, nil
}

// sweepMark is the file holding the instant before which every ended
// task's worktree has been swept (TimeFormat).
func (c *Coordinator) sweepMark() string { return filepath.Join(c.StateDir, "worktrees-swept") }

func (c *Coordinator) readSweepMark() time.Time {
	b, err := os.ReadFile(c.sweepMark())
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(agentos.TimeFormat, strings.TrimSpace(string(b)))
	return t
}

// setSweepMark moves the mark forward to t (never back: a longer retention
// does not bring back what was swept).
func (c *Coordinator) setSweepMark(t time.Time) {
	if t.Before(c.readSweepMark()) {
		return
	}
	if os.MkdirAll(filepath.Dir(c.sweepMark()), 0o755) == nil {
		writeAtomic(c.sweepMark(), t.UTC().Format(agentos.TimeFormat)+"\n")
	}
}

// retainedWorktrees lists the worktrees of tasks that ended longer ago than
// retention.worktrees (a duration; "keep" or empty keeps them until
// `agentos task clean`), with the branch to delete along: none when the
// task's commit has not reached its target. It asks the store for the
// ended tasks last changed before the cutoff it returns, and with
// sinceMark only those at or after the sweep mark.
func (c *Coordinator) retainedWorktrees(ctx context.Context, sinceMark bool) ([]GCWorktree, time.Time, error) {
	keep := c.Config.Retention.Worktrees
	if keep == "" || keep == "keep" {
		return nil, time.Time{}, nil
	}
	d, err := time.ParseDuration(keep)
	if err != nil || d < 0 {
		return nil, time.Time{}, agentos.Errorf(agentos.EINVALID, "agentos.yaml: retention.worktrees %q is not a duration or \"keep\"", keep)
	}
	// Ended at or before now-d, as before: the bound is exclusive.
	f := agentos.TaskFilter{Ended: true, UpdatedBefore: c.Now().Add(-d).Add(time.Nanosecond)}
	if sinceMark {
		f.UpdatedSince = c.readSweepMark()
		if !f.UpdatedSince.Before(f.UpdatedBefore) {
			return nil, time.Time{}, nil // nothing ended since the last sweep's cutoff
		}
	}
	ts, err := c.DB.Tasks(ctx, f)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []GCWorktree
	for _, t := range ts {
		dir := c.worktreeDir(t.ID)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		branch := branchOf(t.ID)
		if t.State == agentos.StateCommitted && t.Commit != "" {
			if head, err := c.Repo.BranchHead(ctx, t.Target); err != nil || !c.Repo.IsAncestor(ctx, t.Commit, head) {
				branch = "" // the commit waits on its branch
			}
		}
		rel, err := filepath.Rel(c.Repo.Dir(), dir)
		if err != nil {
			rel = dir
		}
		out = append(out, GCWorktree{Task: t.ID, State: t.State, EndedAt: t.UpdatedAt, Path: rel, Branch: branch, dir: dir})
	}
	return out, f.UpdatedBefore, nil
}
