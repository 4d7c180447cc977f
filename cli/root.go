// Package cli is the agentos command tree: one file per noun, each verb an
// Options struct, a NewCmd constructor and a run function writing only to the
// Factory's streams. Exit codes are decided once, in ExitCode.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/agentos/agentos"
	"github.com/spf13/cobra"
)

// NewRootCmd builds the command tree. Every top-level command is listed
// here, in one place, so the tree is read rather than assembled by init
// funcs; each noun's file holds its constructor.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "agentos",
		Short:         "Governed execution of AI-proposed changes",
		Long:          "AgentOS turns a request into an Intent and a dry-run Plan and, only after gates, locks and approvals, into a sandboxed, verified, traceable commit.",
		Version:       agentos.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.PersistentFlags().StringVarP(&f.Dir, "repo", "C", f.Dir, "repository `dir` (default: the current directory)")
	root.PersistentFlags().StringVar(&f.As, "as", f.As, "act as this human (default: git user.name or the OS user)")
	root.PersistentFlags().BoolVar(&f.Debug, "debug", false, "print error causes")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see `%s --help`)", err, c.CommandPath())
	})
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.AddCommand(
		// Tasks: plan, decide, apply.
		newCmdPlan(f),
		newCmdApply(f),
		newCmdRun(f, runRequest),
		NewCmdSubmit(f),
		NewCmdWorker(f),
		newCmdApprove(f),
		newCmdReject(f),
		newCmdQuestions(f),
		newCmdAnswer(f),
		newCmdTask(f),
		newCmdRollback(f),
		NewCmdGC(f),
		// Reading what happened.
		newCmdReview(f),
		newCmdTrace(f),
		newCmdAudit(f),
		// Policy and its machinery.
		newCmdInit(f),
		newCmdPolicy(f),
		NewCmdScheduler(f),
		newCmdSandbox(f),
		NewCmdLock(f),
		NewCmdMemory(f),
		NewCmdHook(f),
		newCmdDoctor(f),
		NewCmdSchema(f),
		newCmdDemo(f),
	)
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := NewFactory(stdin, stdout, stderr)
	defer f.Close()
	ctx, stop := signalContext(context.Background(), f.IO.ErrOut)
	defer stop()
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if i, ok := context.Cause(ctx).(*agentos.Interrupt); ok && err != nil && agentos.ErrorCode(err) != agentos.ECANCELLED &&
		(errors.Is(err, context.Canceled) || agentos.ErrorCode(err) == agentos.EINTERNAL) {
		// Whatever the command was doing when the signal came ("context
		// canceled" from a query, a git call): the user reads why it stopped.
		err = agentos.WrapError(agentos.ECANCELLED, errors.Join(i, err), "%s", i.Reason)
	}
	if err != nil {
		printError(f, err)
	}
	return ExitCode(err)
}

func printError(f *Factory, err error) {
	// An error can quote outside text (a failing check's last line, a
	// model's answer): it is redacted like everything stored.
	msg := f.redactText(agentos.ErrorMessage(err))
	if f.JSONErrors {
		_ = json.NewEncoder(f.IO.ErrOut).Encode(map[string]any{
			"error":     msg,
			"code":      agentos.ErrorCode(err),
			"exit_code": ExitCode(err),
		})
		return
	}
	code := agentos.ErrorCode(err)
	prefix := "error: "
	switch code {
	case agentos.EBLOCKED:
		prefix = "blocked: "
	case agentos.EAWAITINGAPPROVAL:
		prefix = "awaiting approval: "
	case agentos.EHELD:
		prefix = "waiting: "
	}
	fmt.Fprintln(f.IO.ErrOut, f.IO.Color(colorFor(code), prefix)+msg)
	if f.Debug {
		for e := err; e != nil; {
			u, ok := e.(interface{ Unwrap() error })
			if !ok {
				break
			}
			e = u.Unwrap()
			if e != nil {
				fmt.Fprintf(f.IO.ErrOut, "  cause: %s\n", f.redactText(e.Error()))
			}
		}
	}
}

func colorFor(code string) string {
	switch code {
	case agentos.EBLOCKED, agentos.EAWAITINGAPPROVAL, agentos.EHELD:
		return "yellow"
	}
	return "red"
}

// Exit codes: the documented contract (README, "Exit codes").
const (
	ExitOK               = 0
	ExitFailed           = 1
	ExitUsage            = 2
	ExitBlocked          = 3
	ExitAwaitingApproval = 4
	// ExitHeld: the scheduler held or skipped the task (a hold rule, a full
	// serialize or max_concurrency key, a file lock); it stays queued.
	ExitHeld = 5
	// ExitSignal plus the signal's number: the command was stopped by
	// SIGHUP (129), SIGINT (130) or SIGTERM (143); its task is cancelled.
	ExitSignal = 128
)

// ExitCode is the one place an error becomes an exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	switch agentos.ErrorCode(err) {
	case agentos.EINVALID, agentos.ENOTFOUND:
		return ExitUsage
	case agentos.EBLOCKED:
		return ExitBlocked
	case agentos.EAWAITINGAPPROVAL:
		return ExitAwaitingApproval
	case agentos.EHELD:
		return ExitHeld
	case agentos.ECANCELLED:
		// Stopped by a signal: the shell's convention. Stopped by a
		// person's `task cancel` or a worker shutting down: a failure.
		if i, ok := errors.AsType[*agentos.Interrupt](err); ok && i.Number > 0 {
			return ExitSignal + i.Number
		}
	}
	return ExitFailed
}

func usageErr(format string, args ...any) error {
	return agentos.Errorf(agentos.EINVALID, format, args...)
}

// noArgs refuses positional arguments as a usage error (cobra's own validators
// return plain errors, which would exit 1).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q (see `%s --help`)", cmd.CommandPath(), args[0], cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("usage: %s %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// group builds a parent command whose leftover arguments are usage errors.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown command %q for %s (see `%s --help`)", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
}
