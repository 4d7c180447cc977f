// Command agentos-sandbox-helper is the sandbox's helper as a binary of its
// own: package helper and nothing else. agentos embeds it (built by `go
// generate ./sandbox/...`, see sandbox/helperbin.go) and starts it for every
// sandboxed command, so a command's start does not load and initialise the
// whole agentos binary. main only wires: the helper is package helper.
package main

import (
	"os"

	"github.com/agentos/agentos/sandbox/internal/helper"
)

func main() {
	// helper's init has taken over already when started by agentos (it
	// checks the same argument and marker); anything else is refused there.
	os.Exit(helper.Main())
}
