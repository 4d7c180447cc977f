package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditanchor"
	"github.com/agentos/agentos/auditkey"
	"github.com/spf13/cobra"
)

// anchorCheck is `audit verify`'s hold of the chain to the evidence outside
// its store: checkpoint signatures first, then (during the one payload
// pass) every witness, task state and approval row.
type anchorCheck struct {
	a        *anchors
	ev       *evidence
	checker  *auditanchor.Checker
	pinnedBy string
	key      string
	sigProbs []string
	tasks    int
	rows     int
	noKey    bool
}

func (f *Factory) anchorCheck(ctx context.Context, db agentos.Store) (*anchorCheck, error) {
	ac := &anchorCheck{checker: auditanchor.NewChecker(nil)}
	// The coordinator wraps the store; its identity is the raw store's.
	raw, err := f.DBReadOnly(ctx)
	if err != nil {
		return nil, err
	}
	integ, ok := raw.(agentos.StoreIntegrity)
	if !ok {
		return ac, nil
	}
	id, err := integ.Identity(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := f.stateDir(ctx)
	if err != nil {
		return nil, err
	}
	ac.a = f.newAnchors(ctx, dir, id)
	if _, err := ac.a.loadKey(); agentos.ErrorCode(err) == agentos.ENOTFOUND {
		ac.noKey = true
	}
	ac.ev, err = ac.a.gather(ctx)
	if err != nil {
		// An unreadable log or ref is itself an inconsistency to name.
		ac.sigProbs = append(ac.sigProbs, agentos.ErrorMessage(err))
		ac.ev = &evidence{}
	}
	pub, by, err := ac.a.pin()
	if err != nil {
		ac.sigProbs = append(ac.sigProbs, agentos.ErrorMessage(err))
	}
	if pub == nil && len(ac.ev.checkpoints) > 0 {
		// Nothing pins a key: every checkpoint must at least be signed by
		// one and the same key.
		if k, err := auditkey.ParsePublic(ac.ev.checkpoints[0].Key); err == nil {
			pub, by = k, "the first checkpoint's own key (nothing pins it: set audit.public_key in "+agentos.PolicyFile+")"
		}
	}
	ac.pinnedBy = by
	if pub != nil {
		ac.key = auditkey.PublicString(pub)
	}
	ac.sigProbs = append(ac.sigProbs, auditanchor.CheckSignatures(ac.ev.checkpoints, ed25519.PublicKey(pub), id)...)
	ac.checker = auditanchor.NewChecker(ac.ev.witnesses(id))
	return ac, nil
}

// finish checks the store's tasks and approval rows against the chain.
func (ac *anchorCheck) finish(ctx context.Context, db agentos.Store) error {
	tasks, err := db.Tasks(ctx, agentos.TaskFilter{})
	if err != nil {
		return err
	}
	var rows []agentos.Approval
	for _, t := range tasks {
		as, err := db.Approvals(ctx, t.ID)
		if err != nil {
			return err
		}
		rows = append(rows, as...)
	}
	ac.tasks, ac.rows = len(tasks), len(rows)
	ac.checker.Finish(tasks, rows)
	return nil
}

func (ac *anchorCheck) problems() []string {
	return append(append([]string{}, ac.sigProbs...), ac.checker.Problems...)
}

func (ac *anchorCheck) summary() map[string]any {
	m := map[string]any{"tasks": ac.tasks, "approval_rows": ac.rows, "witnessed": ac.checker.Witnessed}
	if ac.ev != nil {
		m["checkpoints"], m["trailers"], m["reviews"], m["retired_checkpoints"] = len(ac.ev.checkpoints), len(ac.ev.trailers), len(ac.ev.reviews), ac.ev.retired
	}
	if ac.key != "" {
		m["key"], m["pinned_by"] = ac.key, ac.pinnedBy
	}
	return m
}

// print adds verify's lines about the evidence outside the store.
func (ac *anchorCheck) print(w io.Writer) {
	if ac.a == nil {
		fmt.Fprintf(w, "anchored: nothing (this store keeps no identity)\n")
		return
	}
	ev := ac.ev
	switch {
	case len(ev.checkpoints) == 0 && ac.noKey:
		fmt.Fprintf(w, "anchored: no checkpoint: there is no audit key yet (run `agentos init` to make one)\n")
	case len(ev.checkpoints) == 0:
		fmt.Fprintf(w, "anchored: no checkpoint yet (`agentos audit checkpoint` writes one)\n")
	default:
		fmt.Fprintf(w, "anchored: %d checkpoints verify, signed by %s (pinned by %s)\n", len(ev.checkpoints), ac.key, ac.pinnedBy)
	}
	fmt.Fprintf(w, "witnesses: %d checkpoints, %d %s trailers, %d ReviewPacks name events of this chain\n", countSeq(ev.checkpoints), len(ev.trailers), agentos.TrailerAudit, len(ev.reviews))
	fmt.Fprintf(w, "states: %d tasks follow the transition table through audited events; %d approval rows have their audit events\n", ac.tasks, ac.rows)
}

func countSeq(es []auditanchor.Entry) int {
	n := 0
	for _, e := range es {
		if e.Seq > 0 {
			n++
		}
	}
	return n
}

func newCmdAuditCheckpoint(f *Factory) *cobra.Command {
	var toRef, asJSON bool
	cmd := &cobra.Command{
		Use:   "checkpoint [--ref]",
		Short: "Sign the audit chain's head with the audit key into .agentos/checkpoints.jsonl (and refs/agentos/audit)",
		Long: `Checkpoint verifies the whole chain and that it still has the events the
last checkpoint, refs/agentos/audit and the target's newest AgentOS-Audit trailer
name, then signs (store, seq, head hash, time) with the audit key and appends it
to .agentos/checkpoints.jsonl. With --ref (or audit.ref: true) it also commits it
to refs/agentos/audit; publish that with ` + "`git push origin refs/agentos/audit`" + `.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			integ, ok := db.(agentos.StoreIntegrity)
			if !ok {
				return agentos.Errorf(agentos.EINVALID, "this store keeps no identity: nothing to checkpoint")
			}
			id, err := integ.Identity(ctx)
			if err != nil {
				return err
			}
			// A checkpoint vouches for everything before it: never sign a
			// chain that does not verify.
			if _, err := db.VerifyChain(ctx); err != nil {
				return err
			}
			dir, err := f.stateDir(ctx)
			if err != nil {
				return err
			}
			a := f.newAnchors(ctx, dir, id)
			if err := a.checkHead(ctx, db, true); err != nil {
				return err
			}
			c, sha, err := a.checkpoint(ctx, db, toRef)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, map[string]any{"checkpoint": c, "log": a.logPath(), "ref": sha})
			}
			fmt.Fprintf(f.IO.Out, "checkpoint %d %s\n  store   %s\n  key     %s\n  log     %s\n", c.Seq, c.Head, c.Store, c.Key, a.logPath())
			if sha != "" {
				fmt.Fprintf(f.IO.Out, "  ref     %s %s (publish: git push origin %s)\n", auditanchor.Ref, sha[:12], auditanchor.Ref)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&toRef, "ref", false, "also commit the checkpoint to "+auditanchor.Ref)
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdAuditExport(f *Factory) *cobra.Command {
	var format string
	var from, to int64
	cmd := &cobra.Command{
		Use:   "export --format jsonl|ocsf [--from SEQ] [--to SEQ]",
		Short: "Write audit events as JSON lines or OCSF events for log pipelines and SIEMs, closed by the checkpoint that vouches for them",
		Long: `Export writes the events FROM..TO (default: all) one JSON object per line on
stdout, checking that each links to the one before it, then one closing line:
the first signed checkpoint at or after TO that verifies (or, when none does yet,
why not). jsonl lines are the events as ` + "`agentos audit log --json`" + ` prints them,
closed by {"agentos_checkpoint": …}; ocsf lines are OCSF 1.3 events (mapping in
docs/audit.md), closed by an API Activity "audit.checkpoint" event.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if format != "jsonl" && format != "ocsf" {
				return usageErr("--format %q: use jsonl or ocsf", format)
			}
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			head, _, err := db.ChainHead(ctx)
			if err != nil {
				return err
			}
			if from < 1 {
				from = 1
			}
			if to <= 0 || to > head {
				to = head
			}
			if from > to && head > 0 {
				return usageErr("--from %d is after --to %d (the chain ends at event %d)", from, to, head)
			}
			host, _ := os.Hostname()
			w := bufio.NewWriter(f.IO.Out)
			defer w.Flush()
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			hashes := map[int64]string{}
			var prev string
			var n int64
			for next := from; next <= to; {
				evs, err := db.Events(ctx, agentos.EventFilter{FromSeq: next, Limit: 1000})
				if err != nil {
					return err
				}
				if len(evs) == 0 {
					break
				}
				for _, e := range evs {
					if e.Seq > to {
						break
					}
					// The range must chain on its own: a consumer checks
					// the same links and hashes.
					if e.Seq != next || (prev != "" && e.PrevHash != prev) || e.ComputeHash() != e.Hash {
						w.Flush()
						return agentos.Errorf(agentos.ECONFLICT, "audit event %d does not chain to the one before it: run `agentos audit verify`", next)
					}
					prev, next, n = e.Hash, e.Seq+1, n+1
					hashes[e.Seq] = e.Hash
					var v any = e
					if format == "ocsf" {
						v = auditanchor.OCSF(e, host)
					}
					if err := enc.Encode(v); err != nil {
						return err
					}
				}
				if int64(len(evs)) < 1000 {
					break
				}
			}
			cp, note := f.vouching(ctx, db, to, hashes[to])
			if format == "ocsf" {
				return enc.Encode(auditanchor.OCSFCheckpoint(cp, from, to, note, host))
			}
			return enc.Encode(map[string]any{"agentos_checkpoint": cp, "from": from, "to": to, "events": n, "note": note})
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl or ocsf")
	cmd.Flags().Int64Var(&from, "from", 1, "first event")
	cmd.Flags().Int64Var(&to, "to", 0, "last event (default: the head)")
	return cmd
}

// vouching is the first checkpoint at or after seq that verifies and is
// this store's, with a note on what it proves.
func (f *Factory) vouching(ctx context.Context, db agentos.Store, seq int64, hash string) (*auditanchor.Checkpoint, string) {
	integ, ok := db.(agentos.StoreIntegrity)
	if !ok {
		return nil, "this store keeps no identity: nothing vouches for the range"
	}
	id, err := integ.Identity(ctx)
	if err != nil {
		return nil, agentos.ErrorMessage(err)
	}
	dir, err := f.stateDir(ctx)
	if err != nil {
		return nil, agentos.ErrorMessage(err)
	}
	a := f.newAnchors(ctx, dir, id)
	ev, err := a.gather(ctx)
	if err != nil {
		return nil, agentos.ErrorMessage(err)
	}
	pub, by, _ := a.pin()
	var best *auditanchor.Checkpoint
	for _, e := range ev.checkpoints {
		if e.Store != id || e.Seq < seq || e.Seq == 0 || e.Verify(pub) != nil {
			continue
		}
		if best == nil || e.Seq < best.Seq {
			c := e.Checkpoint
			best = &c
		}
	}
	if best == nil {
		return nil, fmt.Sprintf("no checkpoint covers event %d yet: run `agentos audit checkpoint`, then export again", seq)
	}
	if best.Seq == seq && best.Head != hash {
		return nil, fmt.Sprintf("checkpoint %d names hash %s, the chain has %s: run `agentos audit verify`", seq, best.Head, hash)
	}
	if by == "" {
		by = "its own key (nothing pins one)"
	}
	if best.Seq > seq {
		return best, fmt.Sprintf("vouches for events up to %d: events %d..%d (`--from %d --to %d`) link the range to it; verified against %s", best.Seq, seq+1, best.Seq, seq+1, best.Seq, by)
	}
	return best, "vouches for the range's last event; verified against " + by
}
