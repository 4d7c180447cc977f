package cli

import (
	"bufio"
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
