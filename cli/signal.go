package cli

import (
	"context"
	"io"
	"os"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/cliexit"
)

// signalContext returns a context cancelled by the first stop signal
// (cliexit.SignalContext: the light path of `sandbox run` uses the same).
func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	return cliexit.SignalContext(parent, stderr)
}

func interruptBy(s os.Signal) *agentos.Interrupt { return cliexit.InterruptBy(s) }

// Again returns the channel a second stop signal is sent on (nil outside
// Main: it never fires).
func Again(ctx context.Context) <-chan os.Signal { return cliexit.Again(ctx) }
