package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/scheduler"
	"github.com/spf13/cobra"
)

// NewCmdScheduler builds `agentos scheduler` and its verbs.
func NewCmdScheduler(f *Factory) *cobra.Command {
	cmd := group("scheduler", "Explain scheduling decisions")
	cmd.Long = "The scheduler rules in agentos.yaml decide which queued task runs next (red line 10). Every " +
		"dispatch, hold, skip and takeover is an audit event naming the rule and the rules' hash."
	cmd.AddCommand(newCmdSchedulerExplain(f))
	return cmd
}

// SchedulerExplainOptions are the inputs of `agentos scheduler explain`.
type SchedulerExplainOptions struct {
	F    *Factory
	Task string
	JSON bool
}

// ExplainEntry is one scheduling or lock event of a task.
type ExplainEntry struct {
	Seq      int64               `json:"seq"`
	Time     time.Time           `json:"time"`
	Kind     string              `json:"kind"`
	Actor    agentos.Actor       `json:"actor"`
	Decision *scheduler.Decision `json:"decision,omitempty"`
	Data     json.RawMessage     `json:"data,omitempty"` // lock events
}

// ExplainDoc is the --json document of `agentos scheduler explain`.
type ExplainDoc struct {
	Version int           `json:"version"`
	Task    string        `json:"task"`
	State   agentos.State `json:"state"`
	// Last is the latest scheduler decision, nil when none was made yet.
	Last *ExplainEntry `json:"last"`
	// RulesHash is the hash of the scheduler rules in agentos.yaml now.
	RulesHash string `json:"rules_hash"`
	// RulesChanged is true when Last was decided under other rules.
	RulesChanged bool           `json:"rules_changed"`
	History      []ExplainEntry `json:"history"`
}

func newCmdSchedulerExplain(f *Factory) *cobra.Command {
	opts := &SchedulerExplainOptions{F: f}
	cmd := &cobra.Command{
		Use:   "explain TASK",
		Short: "Why a task runs, waits or was skipped: the rule, the rules' hash, the holder",
		Long: "Reconstructs the scheduling history of a task from its audit events (never by re-evaluating the " +
			"rules): each dispatch, hold, skip and takeover with the rule id and the rules' hash it was decided " +
			"under — by a worker or by a foreground apply, run or approve — and the lock takeovers and forced " +
			"releases that concern it.",
		Args: exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Task = args[0]
			return schedulerExplainRun(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON document")
	return cmd
}

func schedulerExplainRun(cmd *cobra.Command, opts *SchedulerExplainOptions) error {
	doc, err := schedulerExplain(cmd.Context(), opts.F, opts.Task)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.F.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	printExplain(opts.F.IO, doc)
	return nil
}

// schedulerExplain builds the document of `agentos scheduler explain`
// (the HTTP API's GET /api/v1/tasks/{id}/explain calls it too).
func schedulerExplain(ctx context.Context, f *Factory, task string) (ExplainDoc, error) {
	db, err := f.DBReadOnly(ctx)
	if err != nil {
		return ExplainDoc{}, err
	}
	t, err := db.Task(ctx, task)
	if err != nil {
		return ExplainDoc{}, err
	}
	doc := ExplainDoc{Version: 1, Task: t.ID, State: t.State, History: []ExplainEntry{}}
	if cfg, err := f.Config(ctx); err == nil {
		doc.RulesHash = scheduler.Hash(cfg.Scheduler.Rules)
	}
	evs, err := db.Events(ctx, agentos.EventFilter{Task: t.ID})
	if err != nil {
		return ExplainDoc{}, err
	}
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e.Kind, scheduler.EventPrefix):
			var d scheduler.Decision
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return ExplainDoc{}, agentos.WrapError(agentos.EINTERNAL, err, "audit event %d (%s) does not hold a scheduler decision: run `agentos audit verify`", e.Seq, e.Kind)
			}
			entry := ExplainEntry{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Actor: e.Actor, Decision: &d}
			doc.History = append(doc.History, entry)
			doc.Last = &entry
		case e.Kind == lock.EventTakeover || e.Kind == lock.EventForceRelease || e.Kind == lock.EventLost:
			doc.History = append(doc.History, ExplainEntry{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Actor: e.Actor, Data: e.Data})
		}
	}
	if doc.Last != nil && doc.RulesHash != "" {
		doc.RulesChanged = doc.Last.Decision.RulesHash != doc.RulesHash
	}
	return doc, nil
}

func printExplain(io *IOStreams, doc ExplainDoc) {
	w := io.Out
	if doc.Last == nil {
		fmt.Fprintf(w, "task %s is %s and has no scheduler decision yet", doc.Task, doc.State)
		if doc.State == agentos.StateQueued {
			fmt.Fprint(w, ": it waits for a worker (`agentos worker`)")
		}
		fmt.Fprintln(w)
		return
	}
	d := doc.Last.Decision
	verb := map[scheduler.Action]string{
		scheduler.Dispatch: "dispatched", scheduler.Hold: "held", scheduler.Skip: "skipped", scheduler.Takeover: "taken over",
	}[d.Action]
	fmt.Fprintf(w, "task %s is %s; last decision (event %d, %s, for %s): %s by rule %s under rules %s\n",
		doc.Task, doc.State, doc.Last.Seq, doc.Last.Time.UTC().Format(time.RFC3339), runner(doc.Last.Actor), verb, d.RuleID, d.RulesHash)
	fmt.Fprintf(w, "  reason: %s\n", d.Reason)
	if doc.State == agentos.StateQueued && (d.Action == scheduler.Hold || d.Action == scheduler.Skip) {
		fmt.Fprintf(w, "  next: it stays queued; `agentos worker` dispatches it once rule %s lets it, or retry `agentos apply %s`\n", d.RuleID, doc.Task)
	}
	if len(d.Holders) > 0 {
		fmt.Fprintf(w, "  waiting for: %s\n", strings.Join(d.Holders, ", "))
	}
	fmt.Fprintf(w, "  priority: %d (rule %s); matched rules: %s\n", d.Priority, d.PriorityRule, orNone(d.Matched))
	for _, c := range d.Claims {
		fmt.Fprintf(w, "  claims: key %q, at most %d at a time (rule %s)\n", c.Key, c.Limit, c.Rule)
	}
	if doc.RulesChanged {
		fmt.Fprintf(w, "  note: the scheduler rules changed since (now %s); the next decision re-evaluates them\n", doc.RulesHash)
	}
	fmt.Fprintln(w, "history:")
	for _, e := range doc.History {
		ts := e.Time.UTC().Format(time.RFC3339)
		if e.Decision != nil {
			fmt.Fprintf(w, "  #%d %s %-18s rule %s: %s\n", e.Seq, ts, e.Kind, e.Decision.RuleID, e.Decision.Reason)
			continue
		}
		fmt.Fprintf(w, "  #%d %s %-18s by %s: %s\n", e.Seq, ts, e.Kind, e.Actor, string(e.Data))
	}
}

// runner says which front door asked for a decision: the worker decides
// as the system, a foreground apply, run or approve as its human.
func runner(a agentos.Actor) string {
	if a == agentos.System {
		return "a worker"
	}
	return "a run by " + string(a)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
