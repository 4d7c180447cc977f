package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/spf13/cobra"
)

func newCmdReview(f *Factory) *cobra.Command {
	var format string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "review TASK [--format md|json | --json]",
		Short: "Print the ReviewPack of a task's latest run",
		Args:  exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, t, err := f.Task(ctx, args[0])
			if err != nil {
				return err
			}
			rp, md, err := db.Review(ctx, t.ID)
			if err != nil {
				return err
			}
			if asJSON {
				if cmd.Flags().Changed("format") && format != "json" {
					return usageErr("--json and --format %s disagree: pass one of them", format)
				}
				format = "json"
			}
			switch format {
			case "md", "markdown", "":
				defer f.startPager()()
				fmt.Fprint(f.IO.Out, md)
			case "json":
				return printJSON(f, rp)
			default:
				return usageErr("--format %q: use md or json", format)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md or json")
	// --json as on every other state command (same as --format json).
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdTrace(f *Factory) *cobra.Command {
	var asJSON, verify bool
	cmd := &cobra.Command{
		Use:   "trace COMMIT [--verify]",
		Short: "Resolve a commit's AgentOS trailers to task, run, plan and intent, and check its diff hash",
		Long:  "Resolve a commit's AgentOS trailers to task, run, plan and intent, and check its diff hash. With --verify, also check the commit's attestation (the git note under refs/notes/agentos: its DSSE signature by the audit key, its subject, and its plan hash, policy hash, approvals and audit event against the store) and the commit's own signature (required where the attestation says the commit was signed). Exit non-zero naming the first mismatch.",
		Args:  exactArgs(1, "COMMIT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := f.CoordinatorReadOnly(ctx)
			if err != nil {
				return err
			}
			trace := c.TraceCommit
			if verify {
				trace = c.TraceVerify
			}
			tr, err := trace(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(f, tr); err != nil {
					return err
				}
			} else {
				w := f.IO.Out
				fmt.Fprintf(w, "commit  %s\n", tr.Commit)
				if tr.Task != nil {
					fmt.Fprintf(w, "task    %s (%s): %s\n", tr.Task.ID, tr.Task.State, tr.Goal)
				}
				fmt.Fprintf(w, "run     %s\nplan    %s (%s)\nintent  %s\ndiff    %s\n", tr.Run, tr.Plan, tr.PlanID, tr.Intent, tr.DiffHash)
				for _, ch := range tr.Checks {
					mark := f.IO.OutColor("green", "ok  ")
					if !ch.OK {
						mark = f.IO.OutColor("red", "FAIL")
					}
					extra := ""
					if !ch.OK && ch.Want != "" {
						extra = fmt.Sprintf(" (got %s, want %s)", ch.Got, ch.Want)
					}
					fmt.Fprintf(w, "  %s %s%s\n", mark, ch.What, extra)
				}
			}
			if !tr.OK {
				return agentos.Errorf(agentos.ECONFLICT, "commit %s does not match its records: %s", tr.Commit[:12], tr.FirstFailure())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "also check the commit's signed attestation and its commit signature")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdAudit(f *Factory) *cobra.Command {
	cmd := group("audit", "The hash-chained audit log")
	var task, kind string
	var from int64
	var limit int
	var asJSON bool
	logCmd := &cobra.Command{
		Use:   "log [--task TASK] [--kind KIND]",
		Short: "Print audit events in order",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			if task != "" {
				t, err := db.Task(ctx, task)
				if err != nil {
					return err
				}
				task = t.ID
			}
			evs, err := db.Events(ctx, agentos.EventFilter{Task: task, Kind: kind, FromSeq: from, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				if evs == nil {
					evs = []agentos.Event{}
				}
				return printJSON(f, evs)
			}
			defer f.startPager()()
			for _, e := range evs {
				fmt.Fprintf(f.IO.Out, "%6d %s %-8s %-22s %-18s %s\n", e.Seq, e.Time.Format("2006-01-02T15:04:05.000Z"), dash(e.Task), e.Kind, e.Actor, trunc(string(e.Data), 120))
			}
			return nil
		},
	}
	logCmd.Flags().StringVar(&task, "task", "", "only events of this task")
	logCmd.Flags().StringVar(&kind, "kind", "", "only events of this kind (e.g. task.transition)")
	logCmd.Flags().Int64Var(&from, "from", 0, "start at this sequence number")
	logCmd.Flags().IntVar(&limit, "limit", 0, "print at most N events")
	addJSONFlag(logCmd, f, &asJSON)

	var vJSON bool
	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit chain, check every event's data against its kind, and every recorded commit against its trailers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := f.auditVerify(cmd.Context())
			if err != nil {
				return err
			}
			if vJSON {
				if err := printJSON(f, v.doc); err != nil {
					return err
				}
			} else if len(v.anchorProbs) > 0 && v.failed != nil && v.failedAnchors {
				for _, p := range v.anchorProbs[:min(len(v.anchorProbs), 20)] {
					fmt.Fprintf(f.IO.Out, "inconsistent: %s\n", p)
				}
			}
			if v.failed != nil {
				return v.failed
			}
			if !vJSON {
				fmt.Fprintf(f.IO.Out, "audit chain ok: %d events, head %d %s, every payload matches its kind; %d commits match their trailers and records\n", v.events, v.seq, v.head, v.commits)
				v.ac.print(f.IO.Out)
			}
			return nil
		},
	}
	addJSONFlag(verifyCmd, f, &vJSON)
	cmd.AddCommand(logCmd, verifyCmd, newCmdAuditCheckpoint(f), newCmdAuditExport(f))
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCmdRollback(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollback TASK",
		Short: "Revert a committed task on its target branch through a new rollback task (a plan like any other)",
		Long: `Rollback creates a rollback task (labels rollback and rollback-of:TASK) whose plan is
the revert of TASK's commit on the target's head as patch steps, checked by TASK's own
verify checks, and runs it through the gates, admission, the sandbox, the one commit path
and integration. When the revert lands, TASK becomes rolled_back.

Exit 1 when later commits changed the same lines or a check fails (the target is untouched
and the rollback task's ReviewPack says why); exit 4 when a gate wants an approval of the
rollback task's plan (` + "`agentos approve`" + ` it like any plan).`,
		Args: exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			actor, err := f.Actor(ctx)
			if err != nil {
				return err
			}
			res, err := c.Rollback(ctx, args[0], actor)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, res)
			}
			t := res.Task
			fmt.Fprintf(f.IO.Out, "task %s rolled_back\n  revert  %s on %s\n  by      task %s (`agentos review %s`)\n", t.ID, res.Revert, t.Target, res.Rollback.ID, res.Rollback.ID)
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// auditVerification is what `agentos audit verify` found: its --json
// document and the error it exits with (failed; nil when all verified).
type auditVerification struct {
	doc           map[string]any
	failed        error
	failedAnchors bool
	anchorProbs   []string
	events        int64
	seq           int64
	head          string
	commits       int
	ac            *anchorCheck
}

// auditVerify runs the checks of `agentos audit verify` (the HTTP API's
// GET /api/v1/audit/verify calls it too).
func (f *Factory) auditVerify(ctx context.Context) (*auditVerification, error) {
	// The store's anchor (.agentos/store.json) is one more check
	// here, reported after the chain's own: it must not stop the
	// verb its messages send the user to.
	f.anchorLater = true
	c, err := f.CoordinatorReadOnly(ctx)
	if err != nil {
		return nil, err
	}
	seq, head, _ := c.DB.ChainHead(ctx)
	// The evidence outside the store (anchor.go): checkpoints,
	// commit trailers, ReviewPacks; checked in the same pass.
	ac, err := f.anchorCheck(ctx, c.DB)
	if err != nil {
		return nil, err
	}
	// One pass over the log: the chain (every hash and link, as
	// the store's VerifyChain checks it), every event's data
	// decoded strictly as its kind's registered payload (a row
	// re-shaped and re-hashed by someone who knows the chain scheme
	// keeps a valid chain but not a valid payload), and the
	// anchors' per-event checks.
	var check agentos.ChainCheck
	var chainErr error
	_, badData, err := agentos.VerifyPayloadsFunc(ctx, c.DB, func(e agentos.Event, v any) {
		if chainErr == nil {
			chainErr = check.Next(e)
		}
		ac.checker.Event(e, v)
	})
	if err != nil {
		return nil, err
	}
	n := check.Checked()
	if err := ac.finish(ctx, c.DB); err != nil {
		return nil, err
	}
	anchorProbs := ac.problems()
	payloadProbs := []string{}
	for _, e := range badData {
		payloadProbs = append(payloadProbs, agentos.ErrorMessage(e))
	}
	commits, bad, err := c.VerifyCommits(ctx)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"events": n, "head_seq": seq, "head": head, "commits": commits,
		"ok": chainErr == nil && len(bad) == 0 && len(badData) == 0 && f.anchorErr == nil && len(anchorProbs) == 0, "commit_failures": bad, "payload_failures": payloadProbs,
		"anchored": ac.summary(), "anchor_failures": anchorProbs}
	if f.anchorErr != nil {
		res["anchor_error"] = agentos.ErrorMessage(f.anchorErr)
	}
	if chainErr != nil {
		res["chain_error"] = agentos.ErrorMessage(chainErr)
	}
	v := &auditVerification{doc: res, anchorProbs: anchorProbs, events: int64(n), seq: seq, head: head, commits: commits, ac: ac}
	switch {
	case chainErr != nil:
		v.failed = chainErr
	case len(badData) > 0:
		shown := payloadProbs
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(payloadProbs)-10))
		}
		v.failed = agentos.Errorf(agentos.ECONFLICT, "%d audit event(s) do not match their kind's payload (see `agentos schema event.KIND`): %s",
			len(badData), strings.Join(shown, "; "))
	case len(anchorProbs) > 0:
		more := ""
		if len(anchorProbs) > 1 {
			more = fmt.Sprintf(" (and %d more inconsistencies)", len(anchorProbs)-1)
		}
		v.failedAnchors = true
		v.failed = agentos.Errorf(agentos.ECONFLICT, "the audit chain does not match the evidence outside its store: %s%s", anchorProbs[0], more)
	case len(bad) > 0:
		v.failed = agentos.Errorf(agentos.ECONFLICT, "%d commit(s) do not match their records: %s", len(bad), strings.Join(bad, "; "))
	case f.anchorErr != nil:
		v.failed = f.anchorErr
	}
	return v, nil
}
