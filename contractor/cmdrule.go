package contractor

import (
	"github.com/agentos/agentos/cmdrule"
)

// ShellRule decides a contractor's shell command lines with the policy's
// command rules (package cmdrule): the line is decided as `/bin/sh -c LINE`,
// so every program it runs, through pipes, wrappers and substitutions, must
// be allowed. A command that needs a human's approval is denied: nobody is
// at the hook to approve it; put it in the plan instead.
func ShellRule(e *cmdrule.Engine) func(string) (bool, string, string) {
	return func(line string) (bool, string, string) {
		d := e.Decide([]string{"/bin/sh", "-c", line}, nil)
		id := "cmdrule:" + d.RuleID
		switch d.Effect {
		case cmdrule.Allow:
			return true, id, d.Reason
		case cmdrule.Approve:
			return false, id, d.Reason + " (needs a human's approval, which a contractor cannot get at the hook; leave it to the plan's verify checks)"
		}
		return false, id, d.Reason
	}
}
