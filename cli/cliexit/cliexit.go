// Package cliexit is how an agentos command ends: its exit code, its error
// line, and the signals that stop it. It is apart from package cli, and as
// light, so that the light path of `agentos sandbox run` (cli/sandboxrun)
// ends exactly as every verb does.
package cliexit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentos/agentos"
)

// Exit codes: the documented contract (README, "Exit codes").
const (
	OK               = 0
	Failed           = 1
	Usage            = 2
	Blocked          = 3
	AwaitingApproval = 4
	// Held: the scheduler held or skipped the task (a hold rule, a full
	// serialize or max_concurrency key, a file lock); it stays queued.
	Held = 5
	// Signal plus the signal's number: the command was stopped by SIGHUP
	// (129), SIGINT (130) or SIGTERM (143); its task is cancelled.
	Signal = 128
)

// Code is the one place an error becomes an exit code.
func Code(err error) int {
	if err == nil {
		return OK
	}
	switch agentos.ErrorCode(err) {
	case agentos.EINVALID, agentos.ENOTFOUND:
		return Usage
	case agentos.EBLOCKED:
		return Blocked
	case agentos.EAWAITINGAPPROVAL:
		return AwaitingApproval
	case agentos.EHELD:
		return Held
	case agentos.ECANCELLED:
		// Stopped by a signal: the shell's convention. Stopped by a
		// person's `task cancel` or a worker shutting down: a failure.
		if i, ok := errors.AsType[*agentos.Interrupt](err); ok && i.Number > 0 {
			return Signal + i.Number
		}
	}
	return Failed
}

// ANSI are the terminal colours of agentos's output.
var ANSI = map[string]string{
	"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "bold": "\x1b[1m", "dim": "\x1b[2m", "cyan": "\x1b[36m",
}

// ErrorLine is the line an error is printed as on stderr: its kind and its
// message, already redacted by the caller (msg), coloured on a terminal.
func ErrorLine(err error, msg string, color bool) string {
	code := agentos.ErrorCode(err)
	prefix, name := "error: ", "red"
	switch code {
	case agentos.EBLOCKED:
		prefix = "blocked: "
	case agentos.EAWAITINGAPPROVAL:
		prefix = "awaiting approval: "
	case agentos.EHELD:
		prefix = "waiting: "
	}
	switch code {
	case agentos.EBLOCKED, agentos.EAWAITINGAPPROVAL, agentos.EHELD:
		name = "yellow"
	}
	if color {
		prefix = ANSI[name] + prefix + "\x1b[0m"
	}
	return prefix + msg
}

// Interrupted is err as the user reads it when a stop signal cancelled
// ctx (SignalContext): whatever the command was doing when the signal came
// ("context canceled" from a query, a git call), it stopped because of it.
func Interrupted(ctx context.Context, err error) error {
	if i, ok := context.Cause(ctx).(*agentos.Interrupt); ok && err != nil && agentos.ErrorCode(err) != agentos.ECANCELLED &&
		(errors.Is(err, context.Canceled) || agentos.ErrorCode(err) == agentos.EINTERNAL) {
		return agentos.WrapError(agentos.ECANCELLED, errors.Join(i, err), "%s", i.Reason)
	}
	return err
}

// The signals that end a command properly: Ctrl-C, a polite kill, and a
// closed terminal. Each ends the command's task cancelled (a worker's task
// re-queued) with its ReviewPack; the command exits 128 + the number.
var stopSignals = map[os.Signal]string{
	syscall.SIGINT:  "SIGINT",
	syscall.SIGTERM: "SIGTERM",
	syscall.SIGHUP:  "SIGHUP",
}

type againKey struct{}

// SignalContext returns a context cancelled by the first SIGINT, SIGTERM or
// SIGHUP with an *agentos.Interrupt cause naming the signal. The second
// signal is sent on Again(ctx) (the worker's "stop now"); the third exits at
// once, without cleanup: the task's lease then expires and
// `agentos task cancel` ends it.
func SignalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	again := make(chan os.Signal, 1)
	ctx = context.WithValue(ctx, againKey{}, (<-chan os.Signal)(again))
	ch := make(chan os.Signal, 3)
	sigs := make([]os.Signal, 0, len(stopSignals))
	for s := range stopSignals {
		// Started ignoring it (nohup, a background job of a script): it
		// stays ignored, as the user asked.
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	if len(sigs) > 0 { // Notify with none would relay every signal
		signal.Notify(ch, sigs...)
	}
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				n++
				i := InterruptBy(s)
				switch n {
				case 1:
					cancel(i)
				case 2:
					select {
					case again <- s:
					default:
					}
					fmt.Fprintf(stderr, "agentos: %s again: stopping now (once more exits without cleanup)\n", i.Signal)
				default:
					fmt.Fprintf(stderr, "agentos: %s a third time: exiting without cleanup; a running task keeps its lease until it expires, then `agentos task cancel TASK` ends it\n", i.Signal)
					os.Exit(Signal + i.Number)
				}
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// InterruptBy is the Interrupt a stop signal causes.
func InterruptBy(s os.Signal) *agentos.Interrupt {
	name := stopSignals[s]
	num := 0
	if n, ok := s.(syscall.Signal); ok {
		num = int(n)
	}
	return &agentos.Interrupt{Signal: name, Number: num, Actor: agentos.System, Reason: "interrupted by " + name}
}

// Again returns the channel a second stop signal is sent on (nil outside
// a SignalContext: it never fires).
func Again(ctx context.Context) <-chan os.Signal {
	ch, _ := ctx.Value(againKey{}).(<-chan os.Signal)
	return ch
}
