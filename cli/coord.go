package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
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
		c.RunEnded = f.guard.seal
	}
	c.AuditKey = attestKey(f, db, true)
	f.startTelemetry(ctx, c.Config, db)
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
	c, err := f.coordinator(ctx, db)
	if err != nil {
		return nil, err
	}
	c.AuditKey = attestKey(f, db, false)
	return c, nil
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
	target := f.origin.Target
	c.PolicyAt = func(ctx context.Context, commit string) (*config.Config, error) {
		cfg, _, err := f.PolicyAt(ctx, commit, target)
		return cfg, err
	}
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
		tp := &termPrompter{io: f.IO}
		c.Prompter = tp
		if !f.Yes {
			c.ConfirmApply = tp.ConfirmApply(f.redactText)
		}
	}
	return c, nil
}

// progressPrinter renders progress on stderr: on a terminal, one line per
// step redrawn every second with the step's own elapsed time and the run's
// (a 90-second `go test` must not look hung); off a terminal, plain lines
// with the wall-clock time, which a log can keep.
func (f *Factory) progressPrinter() coordinator.Progress {
	p := &progressLine{f: f, start: time.Now()}
	f.progressEnd = p.end
	return p.event
}

// end stops the redraw of a step that never reported its end (the run
// failed inside it) and ends its line, so what is printed next starts on a
// line of its own.
func (p *progressLine) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
		fmt.Fprintln(p.f.IO.ErrOut)
	}
}

type progressLine struct {
	f     *Factory
	start time.Time

	mu      sync.Mutex
	running string        // the running step's text, without times
	output  func() string // the running command's last output line
	since   time.Time     // when it started
	stop    chan struct{} // ends the running step's redraw loop
}

func (p *progressLine) event(ev coordinator.ProgressEvent) {
	f := p.f
	// With --json, stderr holds nothing but the error object, if any.
	if f.Quiet || f.JSONErrors {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
	pos := ""
	if ev.Total > 0 {
		pos = fmt.Sprintf("[%d/%d] ", ev.Index, ev.Total)
	}
	if f.IO.ErrTTY {
		if !ev.Done {
			p.running = fmt.Sprintf("%s %s%s", f.IO.Color("cyan", ev.Phase), pos, ev.What)
			p.output = ev.Output
			p.since = time.Now()
			p.drawLocked()
			stop := make(chan struct{})
			p.stop = stop
			go p.redraw(stop)
			return
		}
		p.running = ""
		mark := f.IO.Color("green", "ok")
		if !ev.OK {
			mark = f.IO.Color("red", "FAILED")
		}
		fmt.Fprintf(f.IO.ErrOut, "\r\x1b[K%s %s%s %s %s\n", f.IO.Color("cyan", ev.Phase), pos, ev.What, mark, f.IO.Color("dim", roundElapsed(ev.Elapsed)))
		return
	}
	now := time.Now().Format("15:04:05")
	if ev.Done {
		status := "ok"
		if !ev.OK {
			status = "FAILED"
		}
		if ev.Phase == "review" {
			fmt.Fprintf(f.IO.ErrOut, "agentos: %s review written: %s\n", now, ev.What)
			return
		}
		fmt.Fprintf(f.IO.ErrOut, "agentos: %s %s %s%s: %s (%s)\n", now, ev.Phase, pos, ev.What, status, roundElapsed(ev.Elapsed))
	} else if ev.Total == 0 {
		fmt.Fprintf(f.IO.ErrOut, "agentos: %s %s: %s\n", now, ev.Phase, ev.What)
	} else {
		fmt.Fprintf(f.IO.ErrOut, "agentos: %s %s %s%s ...\n", now, ev.Phase, pos, ev.What)
	}
}

// redraw refreshes the running step's line once a second until stop.
func (p *progressLine) redraw(stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			select {
			case <-stop: // the step ended while we waited for the lock
			default:
				p.drawLocked()
			}
			p.mu.Unlock()
		}
	}
}

func (p *progressLine) drawLocked() {
	f := p.f
	times := fmt.Sprintf("%s (run %s)", roundElapsed(time.Since(p.since)), roundElapsed(time.Since(p.start)))
	tail := ""
	if p.output != nil {
		// What the command prints is outside text: redacted, one line,
		// cut to fit beside the step.
		if line := f.redactText(p.output()); line != "" {
			if r := []rune(line); len(r) > 60 {
				line = string(r[:57]) + "..."
			}
			tail = " " + f.IO.Color("dim", "> "+strings.Map(printable, line))
		}
	}
	fmt.Fprintf(f.IO.ErrOut, "\r\x1b[K%s %s%s", p.running, f.IO.Color("dim", times), tail)
}

// printable drops control characters (escape sequences a command printed
// must not drive the terminal).
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}

// roundElapsed prints a duration at the precision a person reads: ms under
// a second, tenths under a minute, whole seconds after.
func roundElapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// addJSONFlag adds --json and --jq; with either, errors are JSON on
// stderr too.
func addJSONFlag(cmd *cobra.Command, f *Factory, dst *bool) {
	cmd.Flags().BoolVar(dst, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&f.JQ, "jq", "", "filter the JSON output with a jq `expression` (implies --json; strings print raw)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if f.JQ != "" {
			*dst = true
		}
		if *dst {
			f.JSONErrors = true
			// stderr then holds the error object and nothing else:
			// notices, housekeeping and progress lines go nowhere, and no
			// question is asked (a program reads the JSON).
			if f.errOut == nil {
				f.errOut = f.IO.ErrOut
				f.IO.ErrOut = io.Discard
				f.IO.ErrTTY, f.IO.InTTY = false, false
			}
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func printJSON(f *Factory, v any) error {
	if f.JQ != "" {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return applyJQ(f.IO.Out, f.JQ, b)
	}
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
