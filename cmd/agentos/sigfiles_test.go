package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdSigFiles: sigfiles LOG.json DIR writes, for every signed approval or
// answers event of `agentos audit log --json` output, DIR/N.statement (the
// exact signed bytes) and DIR/N.sig (the armored SSHSIG), N counting from 1,
// so a script can hand them to `ssh-keygen -Y verify` as a person would.
func cmdSigFiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sigfiles LOG.json DIR")
	}
	var evs []agentos.Event
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &evs); err != nil {
		ts.Fatalf("sigfiles: %v", err)
	}
	dir := ts.MkAbs(args[1])
	ts.Check(os.MkdirAll(dir, 0o755))
	n := 0
	for _, e := range evs {
		var d struct {
			Signed *agentos.SignedStatement `json:"signed"`
		}
		if json.Unmarshal(e.Data, &d) != nil || d.Signed == nil {
			continue
		}
		n++
		ts.Check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.statement", n)), []byte(d.Signed.Statement), 0o644))
		ts.Check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.sig", n)), []byte(d.Signed.Signature), 0o644))
	}
	if n == 0 && !neg {
		ts.Fatalf("sigfiles: no signed event in %s", args[0])
	}
}
