// Command agentos is the AgentOS binary. main only wires: the command tree is
// in package cli, the sandbox helper in package sandbox.
package main

import (
	"os"

	"github.com/agentos/agentos/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
