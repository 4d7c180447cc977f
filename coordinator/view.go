package coordinator

import (
	"context"

	"github.com/agentos/agentos"
)

// TaskView is the JSON shape of a task in command output and in the HTTP
// API: the task with its plans, runs, commits and pinned MemoryPack.
type TaskView struct {
	*agentos.Task
	Plans   []PlanRef `json:"plans"`
	Runs    []string  `json:"runs"`
	Commits []string  `json:"commits"`
	Memory  *MemRef   `json:"memory_pack,omitempty"`
	// Worktree is what the task's kept worktree holds, when it kept one.
	Worktree *KeptWorktree `json:"kept_worktree,omitempty"`
}

// PlanRef names one of a task's plans.
type PlanRef struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// MemRef summarises the MemoryPack pinned by the task's plan.
type MemRef struct {
	ID    string   `json:"id"`
	Hash  string   `json:"hash"`
	Items []string `json:"items"`
}

// View reads what TaskView shows of t from db; what cannot be read is left
// empty (a view is for reading, never a reason to fail).
func View(ctx context.Context, db agentos.Store, t *agentos.Task) TaskView {
	v := TaskView{Task: t, Plans: []PlanRef{}, Runs: []string{}, Commits: []string{}}
	if ps, err := db.PlansOf(ctx, t.ID); err == nil {
		for _, p := range ps {
			v.Plans = append(v.Plans, PlanRef{ID: p[0], Hash: p[1]})
		}
	}
	if rs, err := db.RunsOf(ctx, t.ID); err == nil && rs != nil {
		v.Runs = rs
	}
	if cs, err := db.CommitsOf(ctx, t.ID); err == nil {
		for _, c := range cs {
			v.Commits = append(v.Commits, c.SHA)
		}
	}
	if t.PlanID != "" {
		if p, _, err := db.PlanWithoutBodies(ctx, t.PlanID); err == nil {
			if m, err := db.MemoryPackByHash(ctx, t.ID, p.MemoryPackHash); err == nil {
				mr := &MemRef{ID: m.ID, Hash: m.Hash, Items: []string{}}
				for _, it := range m.Items {
					mr.Items = append(mr.Items, it.ID)
				}
				v.Memory = mr
			}
		}
	}
	return v
}
