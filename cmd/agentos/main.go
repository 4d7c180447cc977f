// Command agentos is the AgentOS binary. main only wires: the command tree is
// in package cli, the sandbox helper in package sandbox.
package main

import (
	"os"

	"github.com/agentos/agentos/cli"
	"github.com/agentos/agentos/sandbox"
	// `agentos sandbox run` takes over in this package's init, before the
	// rest of agentos is initialised (the light path, cli/sandboxrun).
	_ "github.com/agentos/agentos/cli/sandboxrun"
)

func main() { os.Exit(run()) }

// run is the whole agentos command. The test binary runs it too, as the
// `agentos` of the scripts (script_test.go), so main and the tests cannot
// drift apart.
func run() int {
	// The sandbox re-executes this binary as its helper where it cannot
	// start its embedded one; the helper's own package's init takes over
	// before main (sandbox/internal/helper); this is a second line,
	// should that init ever not run first.
	if sandbox.IsHelper() {
		return sandbox.HelperMain()
	}
	return cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
