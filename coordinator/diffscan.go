package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/policy"
)

// scanDiff is the last gate before a commit: the tree about to be committed
// is scanned for secrets, whoever wrote them (a write step, or a command
// that copied .env into a declared file), and the policy's secret rules
// apply to what it finds. A deny refuses the commit. A require_approval is
// held against the plan's approvals: it passes only when the plan's own
// gates already held the same rule on a step writing that path (a human
// approved it) or, in full_auto, a standing rule covers it; otherwise the
// run fails, since nobody approved a secret that appeared only at run time.
// The way on is a plan that writes the file with a write step (the gate
// shows it, a human approves that plan) or a narrower rule in the policy.
// The decisions join the plan's gate decisions, so the ReviewPack shows the
// finding (file and rule, never the value).
func (c *Coordinator) scanDiff(ctx context.Context, x *executor, changes []policy.Change) error {
	e, err := c.policyEngine()
	if err != nil {
		return err
	}
	in := policy.Input{Task: *x.task, Plan: *x.plan}
	found, res := e.EvaluateDiff(in, changes)
	if len(found) == 0 || len(res.Decisions) == 0 {
		return nil
	}
	prior, err := c.DB.GateDecisions(ctx, x.task.ID, x.plan.Hash)
	if err != nil {
		return err
	}
	var refuse []string
	for _, d := range res.Decisions {
		switch d.Effect {
		case agentos.EffectDeny:
			refuse = append(refuse, fmt.Sprintf("rule %s denies it (%s)", d.RuleID, strings.TrimPrefix(d.Reason, policy.DiffPrefix)))
		case agentos.EffectRequireApproval:
			if d.Step >= 0 && approvedFor(prior, x.plan, d.RuleID, found[d.Step].Path) {
				continue
			}
			if x.task.Mode == agentos.ModeFullAuto && res.AutoApproved {
				continue
			}
			refuse = append(refuse, fmt.Sprintf("rule %s needs an approval nobody gave (%s)", d.RuleID, strings.TrimPrefix(d.Reason, policy.DiffPrefix)))
		}
	}
	kept := append([]agentos.GateDecision{}, prior...)
	for _, d := range res.Decisions {
		d.Step = -1 // the reason names the file; no plan step wrote it as such
		if !slices.Contains(prior, d) {
			kept = append(kept, d)
		}
	}
	if err := c.DB.SaveGateDecisions(ctx, x.task.ID, x.plan.Hash, kept, agentos.System); err != nil {
		return err
	}
	if len(refuse) == 0 {
		return nil
	}
	return agentos.Errorf(agentos.EDENIED, "the run's diff adds what looks like a secret; %s; refusing to commit (a secret a command produced cannot be approved after the run: write it with a write step so the plan's gate shows it, or narrow the rule in %s)",
		strings.Join(refuse, "; "), agentos.PolicyFile)
}

// approvedFor reports whether the plan's own gate decisions held rule on a
// step that writes path: the approval that let the plan run covered it.
func approvedFor(prior []agentos.GateDecision, p *agentos.Plan, rule, path string) bool {
	for _, g := range prior {
		if g.RuleID != rule || g.Effect != agentos.EffectRequireApproval || strings.HasPrefix(g.Reason, policy.DiffPrefix) {
			continue
		}
		steps := p.Steps
		if g.Step >= 0 && g.Step < len(p.Steps) {
			steps = p.Steps[g.Step : g.Step+1]
		} else if g.Step >= len(p.Steps) {
			continue // a verify check
		}
		for _, s := range steps {
			for _, w := range s.Writes() {
				if w == path || strings.HasPrefix(path, strings.TrimSuffix(w, "/")+"/") {
					return true
				}
			}
		}
	}
	return false
}

// diffChange is what the commit adds and removes in one file (ok false: a
// deleted binary file, nothing to scan): a text file's added and removed
// lines from git's diff d, a binary file's bytes as the worktree holds
// them (git's binary patch is compressed). Symlinks are scanned as their
// target text, never followed. d's bytes are reused for the added lines.
func diffChange(wt, p string, d []byte) (ch policy.Change, ok bool, err error) {
	ch.Path = p
	if !bytes.Contains(d, []byte("\nGIT binary patch\n")) && !bytes.Contains(d, []byte("\nBinary files ")) {
		ch.Old, ch.New = diffLines(d)
		return ch, true, nil
	}
	full := filepath.Join(wt, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	switch {
	case err != nil:
		return ch, false, nil // deleted
	case fi.Mode()&os.ModeSymlink != 0:
		t, _ := os.Readlink(full)
		ch.New = []byte(t)
	case fi.Mode().IsRegular():
		if ch.New, err = os.ReadFile(full); err != nil {
			return ch, false, err
		}
	}
	return ch, true, nil
}

// diffLines splits a unified diff into its removed and added lines. The
// added lines are gathered in place at the front of d (each is written no
// further than where it was read: its "+" is dropped), so a large diff
// costs no second buffer; d is consumed.
func diffLines(d []byte) (old, added []byte) {
	var o bytes.Buffer
	w := 0
	inHunk := false
	for r := 0; r < len(d); {
		end := bytes.IndexByte(d[r:], '\n')
		if end < 0 {
			end = len(d)
		} else {
			end += r + 1
		}
		l := d[r:end]
		switch {
		case bytes.HasPrefix(l, []byte("@@")):
			inHunk = true
		case !inHunk:
		case l[0] == '+':
			w += copy(d[w:], l[1:])
		case l[0] == '-':
			o.Write(l[1:])
		}
		r = end
	}
	return o.Bytes(), d[:w:w]
}
