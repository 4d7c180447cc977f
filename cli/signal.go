package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentos/agentos"
)

// The signals that end a command properly: Ctrl-C, a polite kill, and a
// closed terminal. Each ends the command's task cancelled (a worker's task
// re-queued) with its ReviewPack; the command exits 128 + the number.
var stopSignals = map[os.Signal]string{
	syscall.SIGINT:  "SIGINT",
	syscall.SIGTERM: "SIGTERM",
	syscall.SIGHUP:  "SIGHUP",
}

type againKey struct{}

// signalContext returns a context cancelled by the first SIGINT, SIGTERM or
// SIGHUP with an *agentos.Interrupt cause naming the signal. The second
// signal is sent on Again(ctx) (the worker's "stop now"); the third exits at
// once, without cleanup: the task's lease then expires and
// `agentos task cancel` ends it.
func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
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
				i := interruptBy(s)
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
					os.Exit(ExitSignal + i.Number)
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

func interruptBy(s os.Signal) *agentos.Interrupt {
	name := stopSignals[s]
	num := 0
	if n, ok := s.(syscall.Signal); ok {
		num = int(n)
	}
	return &agentos.Interrupt{Signal: name, Number: num, Actor: agentos.System, Reason: "interrupted by " + name}
}

// Again returns the channel a second stop signal is sent on (nil outside
// Main: it never fires).
func Again(ctx context.Context) <-chan os.Signal {
	ch, _ := ctx.Value(againKey{}).(<-chan os.Signal)
	return ch
}
