package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
)

// termPrompter asks questions at the terminal, showing choices and defaults,
// and re-asks until the answer is valid for the question's kind.
type termPrompter struct {
	io *IOStreams
	r  *bufio.Reader
}

func (p *termPrompter) Ask(q agentos.Question) (string, error) {
	if p.r == nil {
		p.r = bufio.NewReader(p.io.In)
	}
	w := p.io.ErrOut
	fmt.Fprintf(w, "\n%s %s\n", p.io.Color("bold", "?"), q.Text)
	if q.Why != "" {
		fmt.Fprintf(w, "  %s\n", p.io.Color("dim", "why: "+q.Why))
	}
	for i, o := range q.Options {
		fmt.Fprintf(w, "  %d) %s\n", i+1, o)
	}
	hint := string(q.Kind)
	if q.Kind == agentos.KindBool {
		hint = "true/false"
	}
	for tries := 0; tries < 5; tries++ {
		if q.Default != "" {
			fmt.Fprintf(w, "  %s [%s, default %q]: ", q.ID, hint, q.Default)
		} else {
			fmt.Fprintf(w, "  %s [%s]: ", q.ID, hint)
		}
		line, err := p.r.ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("no answer (input closed)")
		}
		v := strings.TrimSpace(line)
		if v == "" {
			v = q.Default
		}
		if q.Kind == agentos.KindChoice {
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err == nil && n >= 1 && n <= len(q.Options) && fmt.Sprint(n) == v {
				v = q.Options[n-1]
			}
		}
		if q.Kind == agentos.KindBool {
			switch strings.ToLower(v) {
			case "y", "yes":
				v = "true"
			case "n", "no":
				v = "false"
			}
		}
		if v == "" && q.Blocker {
			fmt.Fprintf(w, "  %s\n", p.io.Color("red", "an answer is required"))
			continue
		}
		if err := coordinator.ValidateAnswer(q, v); err != nil {
			fmt.Fprintf(w, "  %s\n", p.io.Color("red", agentos.ErrorMessage(err)))
			continue
		}
		return v, nil
	}
	return "", fmt.Errorf("too many invalid answers")
}

// ConfirmApply shows an interactive run's plan (steps with diffs, the
// gates' verdict, the MemoryPack) and asks "apply? [y/N]": anything but
// y/yes leaves the task planned. Everything shown came from outside (a plan
// file, a model), so it is redacted as stored text is.
func (p *termPrompter) ConfirmApply(redactText func(string) string) func(ctx context.Context, pv *coordinator.PlanPreview) (bool, error) {
	return func(ctx context.Context, pv *coordinator.PlanPreview) (bool, error) {
		if p.r == nil {
			p.r = bufio.NewReader(p.io.In)
		}
		w := p.io.ErrOut
		c := p.io.Color
		fmt.Fprintf(w, "\n%s %s\n", c("bold", "Plan "+pv.Plan.Hash), redactText(pv.Plan.Goal))
		fmt.Fprintf(w, "  task %s, base %s, target %s\n\n", pv.Task.ID, shortSHA(pv.Plan.BaseCommit), pv.Plan.Target)
		for _, s := range pv.Steps {
			fmt.Fprintf(w, "%s\n", c("bold", redactText(s.Summary)))
			for _, line := range strings.SplitAfter(redactText(s.Diff), "\n") {
				switch {
				case line == "":
				case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
					fmt.Fprint(w, "  "+c("bold", strings.TrimSuffix(line, "\n"))+"\n")
				case strings.HasPrefix(line, "+"):
					fmt.Fprint(w, "  "+c("green", strings.TrimSuffix(line, "\n"))+"\n")
				case strings.HasPrefix(line, "-"):
					fmt.Fprint(w, "  "+c("red", strings.TrimSuffix(line, "\n"))+"\n")
				case strings.HasPrefix(line, "@@"):
					fmt.Fprint(w, "  "+c("cyan", strings.TrimSuffix(line, "\n"))+"\n")
				default:
					fmt.Fprint(w, "  "+line)
				}
			}
		}
		if len(pv.Checks) > 0 {
			fmt.Fprintf(w, "%s\n", c("bold", "verify"))
			for _, ch := range pv.Checks {
				fmt.Fprintf(w, "  %s\n", redactText(ch))
			}
		}
		fmt.Fprintf(w, "%s %s\n", c("bold", "gates:"), pv.Effect)
		for _, d := range pv.Decisions {
			if d.Effect != agentos.EffectAllow || d.Reason != "" {
				fmt.Fprintf(w, "  %s %s: %s\n", d.Effect, d.RuleID, redactText(d.Reason))
			}
		}
		if pv.Memory != nil {
			fmt.Fprintf(w, "%s %d item(s) in MemoryPack %s\n", c("bold", "memory:"), len(pv.Memory.Items), pv.Memory.Hash)
			for i, it := range pv.Memory.Items {
				if i == 5 {
					fmt.Fprintf(w, "  … and %d more (`agentos memory pack %s`)\n", len(pv.Memory.Items)-5, pv.Task.ID)
					break
				}
				fmt.Fprintf(w, "  %s: %s\n", it.Kind, trunc(redactText(it.Text), 90))
			}
		}
		fmt.Fprintf(w, "\n%s ", c("bold", "Apply this plan? [y/N]"))
		line, err := p.r.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(w)
			return false, nil // input closed: no is the safe answer
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
}
