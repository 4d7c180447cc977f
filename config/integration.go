package config

import (
	"fmt"
	"strings"
)

// Integration says where verified commits land. Empty Remote: the target
// branch of this clone. With Remote set (workers on several machines
// sharing one PostgreSQL store), the git remote is the integration point:
// fetch, rebase onto the remote target, verify again, push fast-forward
// only, retry when the push is rejected, never force.
type Integration struct {
	Remote string `yaml:"remote"`
}

// validate checks the remote is a name git can take as one argument.
func (i Integration) validate() error {
	r := i.Remote
	if r == "" {
		return nil
	}
	if strings.HasPrefix(r, "-") || strings.ContainsAny(r, " \t\n:") {
		return fmt.Errorf("integration.remote: %q is not a git remote name (e.g. origin)", r)
	}
	return nil
}
