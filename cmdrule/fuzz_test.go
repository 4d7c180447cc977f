package cmdrule_test

import (
	"testing"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
)

// FuzzDecideScript: whatever the script, Decide returns a complete
// decision, and a denied sub-command always denies the whole line.
func FuzzDecideScript(f *testing.F) {
	for _, s := range []string{
		"git status && rm -rf /", "echo $(rm -rf /)", "f() { rm -rf /; }; f", "eval x", "a=rm; $a -rf /",
		"sh -c 'sh -c \"rm -rf /\"'", "cat <(rm -rf /)", "env A=1 nice rm -rf /", "x=`rm -rf /`", "((",
	} {
		f.Add(s)
	}
	e, err := cmdrule.New(config.Commands{
		Allow: []string{"git", "echo", "cat", "rm"},
		Rules: []config.CommandRule{{ID: "no-rm-rf", Prefix: []string{"rm", "-rf"}, Decision: "deny"}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, script string) {
		d := e.Decide([]string{"sh", "-c", script}, nil)
		if d.Effect != cmdrule.Allow && d.Effect != cmdrule.Approve && d.Effect != cmdrule.Deny {
			t.Fatalf("effect %q", d.Effect)
		}
		if d.RuleID == "" || d.Reason == "" {
			t.Fatalf("incomplete decision %+v", d)
		}
		for _, c := range d.Commands {
			if c.Effect == cmdrule.Deny && d.Effect != cmdrule.Deny {
				t.Fatalf("a denied sub-command did not make the line denied: %+v", d)
			}
		}
	})
}
