//go:build linux

package sandbox_test

import (
	"os"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

// TestMain dispatches the helper: in a test, /proc/self/exe is the test
// binary, so it must play the helper's part as agentos does.
func TestMain(m *testing.M) {
	if sandbox.IsHelper() {
		os.Exit(sandbox.HelperMain())
	}
	if probe := os.Getenv(probeEnv); probe != "" {
		os.Exit(runProbe(probe, os.Args[1:]))
	}
	os.Exit(m.Run())
}
