package main

import (
	"github.com/rogpeppe/go-internal/testscript"
)

// commitpol commits agentos.yaml as it is in the working tree (when it
// changed): only the committed policy governs, so a script that writes a
// policy commits it before the verbs it means to govern.
func cmdCommitPol(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: commitpol")
	}
	ts.Check(ts.Exec("git", "add", "agentos.yaml"))
	if ts.Exec("git", "diff", "--cached", "--quiet", "--", "agentos.yaml") == nil {
		return // unchanged
	}
	ts.Check(ts.Exec("git", "commit", "-q", "-m", "agentos policy", "--", "agentos.yaml"))
}
