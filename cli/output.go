package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/itchyny/gojq"
	"github.com/spf13/cobra"

	"github.com/agentos/agentos"
)

// Output conventions shared by every command, as gh has them: --jq on
// every --json command, a pager for long output on a terminal, completion
// of task ids.

// applyJQ runs the --jq expression over doc (a JSON document) and writes
// each result on its own line: strings raw, everything else as compact JSON.
func applyJQ(w io.Writer, expr string, doc []byte) error {
	q, err := gojq.Parse(expr)
	if err != nil {
		return agentos.Errorf(agentos.EINVALID, "--jq %q: %v", expr, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return agentos.Errorf(agentos.EINVALID, "--jq %q: %v", expr, err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "--jq: the output is not JSON: %v", err)
	}
	v = jqNumbers(v)
	iter := code.Run(v)
	for {
		r, ok := iter.Next()
		if !ok {
			return nil
		}
		if err, ok := r.(error); ok {
			return agentos.Errorf(agentos.EINVALID, "--jq %q: %v", expr, err)
		}
		if s, ok := r.(string); ok {
			fmt.Fprintln(w, s)
			continue
		}
		b, err := gojq.Marshal(r)
		if err != nil {
			return agentos.Errorf(agentos.EINVALID, "--jq %q: %v", expr, err)
		}
		fmt.Fprintln(w, string(b))
	}
}

// jqNumbers turns json.Number into the numbers gojq computes with (int
// where exact, else float64).
func jqNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = jqNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jqNumbers(e)
		}
	}
	return v
}

// startPager sends the rest of stdout through $AGENTOS_PAGER or $PAGER
// (default "less -FRX": it exits at once when the text fits the screen) when
// stdout is a terminal and --no-pager was not given. The returned func
// waits for the pager; call it before the command returns.
func (f *Factory) startPager() (wait func()) {
	nop := func() {}
	if f.NoPager || !f.IO.OutTTY {
		return nop
	}
	pager := os.Getenv("AGENTOS_PAGER")
	if pager == "" {
		pager = os.Getenv("PAGER")
	}
	if pager == "" {
		if _, err := exec.LookPath("less"); err != nil {
			return nop
		}
		pager = "less -FRX"
	}
	if pager == "cat" || strings.TrimSpace(pager) == "" {
		return nop
	}
	cmd := exec.Command("sh", "-c", pager)
	cmd.Stdout, cmd.Stderr = f.IO.Out, f.IO.ErrOut
	if env := os.Environ(); !hasEnv(env, "LESS") {
		cmd.Env = append(env, "LESS=FRX")
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nop
	}
	if err := cmd.Start(); err != nil {
		return nop // no pager: print as usual
	}
	out := f.IO.Out
	f.IO.Out = in
	return func() {
		in.Close()
		_ = cmd.Wait()
		f.IO.Out = out
	}
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// completeTaskIDs offers the repository's task ids (newest first, with
// their goal) for a command's TASK argument. It reads the store read-only
// and stays silent on any error: completion must never print one.
func completeTaskIDs(f *Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		db, err := f.DBReadOnly(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ts, err := db.Tasks(cmd.Context(), agentos.TaskFilter{Limit: 200})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, t := range ts {
			if strings.HasPrefix(t.ID, toComplete) {
				goal := strings.Join(strings.Fields(f.redactText(t.Goal)), " ")
				if len(goal) > 60 {
					goal = goal[:57] + "..."
				}
				out = append(out, cobra.CompletionWithDesc(t.ID, string(t.State)+": "+goal))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// wireTaskCompletion gives every command whose first argument is a TASK
// the task-id completion, in one place rather than in each noun's file.
func wireTaskCompletion(f *Factory, c *cobra.Command) {
	for _, sub := range c.Commands() {
		wireTaskCompletion(f, sub)
	}
	fields := strings.Fields(c.Use)
	if len(fields) < 2 || c.ValidArgsFunction != nil {
		return
	}
	arg := strings.Trim(fields[1], "[]")
	if arg == "TASK" || arg == "TASK..." {
		c.ValidArgsFunction = completeTaskIDs(f, arg == "TASK...")
	}
}
