// Command agentos is the AgentOS binary. main only wires: the command tree is
// in package cli, the sandbox helper in package sandbox.
package main

import (
	"os"

	"github.com/agentos/agentos/cli"
	"github.com/agentos/agentos/sandbox"
)

func main() {
	// The sandbox re-executes this binary as its helper; dispatch it before
	// anything else runs.
	if sandbox.IsHelper() {
		os.Exit(sandbox.HelperMain())
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
