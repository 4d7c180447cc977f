package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
	"github.com/spf13/cobra"
)

// Coordinator builds the pipeline over the read-write store, for the verbs
// that change something (plan, apply, run, answer, approve, reject, cancel,
// rollback, submit, worker). It first does the housekeeping the policy asks
// for (see coordinator.Housekeep): read verbs never do it.
func (f *Factory) Coordinator(ctx context.Context) (*coordinator.Coordinator, error) {
	if err := coordinator.CheckLease(os.Environ()); err != nil {
		return nil, err
	}
	db, err := f.DB(ctx)
	if err != nil {
		return nil, err
	}
	c, err := f.coordinator(ctx, db)
	if err != nil {
		return nil, err
	}
	if f.guard != nil {
		c.CheckStore = f.guard.verify // before every run (coordinator preflight)
	}
	rep, err := c.Housekeep(ctx, agentos.System)
	printGC(f.IO.ErrOut, "agentos: ", rep)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CoordinatorReadOnly builds the pipeline over the read-only store, for
// the read verbs that check records against the repository (trace, audit
// verify, policy explain): anything that would write fails.
func (f *Factory) CoordinatorReadOnly(ctx context.Context) (*coordinator.Coordinator, error) {
	db, err := f.DBReadOnly(ctx)
	if err != nil {
		return nil, err
	}
	return f.coordinator(ctx, db)
}

// coordinator wires the pipeline for the repository: store, git, policy,
// memory, redaction, progress and (on a terminal) the interactive prompter.
func (f *Factory) coordinator(ctx context.Context, db agentos.Store) (*coordinator.Coordinator, error) {
	repo, err := f.Repo(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := f.Config(ctx)
	if err != nil {
		return nil, err
	}
	c := coordinator.New(db, repo, cfg)
	c.Now = f.Now
	c.ModelPlanners = modelPlanners()
	// The memory lives in the store (SQLite FTS5 or PostgreSQL full-text
	// search) unless memory.url names a memory service.
	if cfg.Memory.URL != "" {
		if c.Memory, err = memory.FromConfig(nil, cfg.Memory, os.Getenv); err != nil {
			return nil, err
		}
	} else if c.Memory, err = localMemory(db, cfg.Memory); err != nil {
		return nil, err
	}
	r, err := policyRedactor(cfg)
	if err != nil {
		return nil, err
	}
	c.Redact = r.String
	c.Progress = f.progressPrinter()
	if f.IO.InTTY && f.IO.ErrTTY {
		c.Prompter = &termPrompter{io: f.IO}
	}
	return c, nil
}

// progressPrinter renders progress on stderr: redrawn lines with colour on
// a terminal, plain lines a log can keep elsewhere.
func (f *Factory) progressPrinter() coordinator.Progress {
	start := time.Now()
	return func(ev coordinator.ProgressEvent) {
		if f.Quiet {
			return
		}
		pos := ""
		if ev.Total > 0 {
			pos = fmt.Sprintf("[%d/%d] ", ev.Index, ev.Total)
		}
		elapsed := time.Since(start).Round(100 * time.Millisecond)
		if f.IO.ErrTTY {
			if !ev.Done {
				fmt.Fprintf(f.IO.ErrOut, "\r\x1b[K%s %s%s %s", f.IO.Color("cyan", ev.Phase), pos, ev.What, f.IO.Color("dim", elapsed.String()))
				return
			}
			mark := f.IO.Color("green", "ok")
			if !ev.OK {
				mark = f.IO.Color("red", "FAILED")
			}
			fmt.Fprintf(f.IO.ErrOut, "\r\x1b[K%s %s%s %s %s\n", f.IO.Color("cyan", ev.Phase), pos, ev.What, mark, f.IO.Color("dim", ev.Elapsed.Round(time.Millisecond).String()))
			return
		}
		if ev.Done {
			status := "ok"
			if !ev.OK {
				status = "FAILED"
			}
			if ev.Phase == "review" {
				fmt.Fprintf(f.IO.ErrOut, "agentos: review written: %s\n", ev.What)
				return
			}
			fmt.Fprintf(f.IO.ErrOut, "agentos: %s %s%s: %s (%s)\n", ev.Phase, pos, ev.What, status, ev.Elapsed.Round(time.Millisecond))
		} else if ev.Total == 0 {
			fmt.Fprintf(f.IO.ErrOut, "agentos: %s: %s\n", ev.Phase, ev.What)
		}
	}
}

// addJSONFlag adds --json; with it, errors are JSON on stderr too.
func addJSONFlag(cmd *cobra.Command, f *Factory, dst *bool) {
	cmd.Flags().BoolVar(dst, "json", false, "print the result as JSON")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if *dst {
			f.JSONErrors = true
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func printJSON(f *Factory, v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
