package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agentos/agentos/signers"
	"go.yaml.in/yaml/v3"
)

// Signer is one person who may answer, approve or administer, known by SSH
// public key(s) and WebAuthn passkeys ("webauthn ORIGIN CREDENTIAL_ID
// COSE_KEY", the line the web page shows; see docs/approvals.md). An entry is either a line of git's allowed_signers file,
// pasted as is (the first principal is the person's name; roles approve
// and answer):
//
//	signers:
//	  - alice ssh-ed25519 AAAA… alice@laptop
//
// or a mapping with a name, roles and keys (each a public key or an
// allowed_signers line; a line's principals become the person's aliases):
//
//	signers:
//	  - name: bob
//	    roles: [approve, admin]
//	    keys: ["ssh-ed25519 AAAA… bob@desk"]
type Signer struct {
	Name  string   `yaml:"name"`
	Roles []string `yaml:"roles"`
	Keys  []string `yaml:"keys"`
	// line is the pasted allowed_signers form, when the entry was one.
	line string
}

// UnmarshalYAML takes either form of an entry.
func (s *Signer) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.line = n.Value
		s.Keys = []string{n.Value}
		return nil
	}
	type plain Signer
	return n.Decode((*plain)(s))
}

// Approvals are the rules every required approval follows.
type Approvals struct {
	// DistinctFromAuthor (four eyes): whoever wrote, submitted or requested
	// a plan is never one of its approvers. Unset: on when signers are
	// listed, off for solo use (no signers: one person, one OS user).
	DistinctFromAuthor *bool `yaml:"distinct_from_author"`
}

// FourEyes reports whether approvals.distinct_from_author is in force.
func (c *Config) FourEyes() bool {
	if c.Approvals.DistinctFromAuthor != nil {
		return *c.Approvals.DistinctFromAuthor
	}
	return len(c.Signers) > 0
}

// People returns the listed signers, parsed (validateSigners has checked them).
func (c *Config) People() ([]signers.Person, error) {
	var out []signers.Person
	for i, s := range c.Signers {
		where := fmt.Sprintf("signers[%d]", i)
		p := signers.Person{Name: strings.TrimPrefix(s.Name, "human:")}
		if s.line != "" && len(s.Roles) > 0 {
			return nil, fmt.Errorf("%s: internal: a pasted line has no roles", where)
		}
		for _, r := range s.Roles {
			role, err := signers.ParseRole(r)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %v", where, p.Name, err)
			}
			p.Roles = append(p.Roles, role)
		}
		if len(s.Keys) == 0 {
			return nil, fmt.Errorf("%s (%s): keys: list at least one SSH public key (\"ssh-ed25519 AAAA…\")", where, s.Name)
		}
		for j, k := range s.Keys {
			if signers.IsPasskeyLine(k) {
				principals, pk, err := signers.ParsePasskeyLine(k)
				if err != nil {
					if s.line != "" {
						return nil, fmt.Errorf("%s: %v", where, err)
					}
					return nil, fmt.Errorf("%s (%s).keys[%d]: %v", where, s.Name, j, err)
				}
				if p.Name == "" && len(principals) > 0 {
					p.Name = principals[0]
				}
				for _, pr := range principals {
					if pr != p.Name && !slices.Contains(p.Principals, pr) {
						p.Principals = append(p.Principals, pr)
					}
				}
				p.Passkeys = append(p.Passkeys, pk)
				continue
			}
			principals, key, err := signers.ParseLine(k)
			if err != nil {
				if s.line != "" {
					return nil, fmt.Errorf("%s: %v", where, err)
				}
				return nil, fmt.Errorf("%s (%s).keys[%d]: %v", where, s.Name, j, err)
			}
			if p.Name == "" && len(principals) > 0 {
				p.Name = principals[0]
			}
			for _, pr := range principals {
				if pr != p.Name && !slices.Contains(p.Principals, pr) {
					p.Principals = append(p.Principals, pr)
				}
			}
			p.Keys = append(p.Keys, key)
		}
		if p.Name == "" {
			return nil, fmt.Errorf("%s: no name: give name: or paste an allowed_signers line (\"alice ssh-ed25519 AAAA…\")", where)
		}
		out = append(out, p)
	}
	return out, nil
}

// Keyring returns the listed signers by name and key (nil-safe: no signers
// is an empty keyring, which means solo use).
func (c *Config) Keyring() (*signers.Keyring, error) {
	ps, err := c.People()
	if err != nil {
		return nil, err
	}
	return signers.NewKeyring(ps)
}

// validateSigners checks the signers and that every approver the policy
// names is a listed person who may approve.
func validateSigners(c *Config) error {
	k, err := c.Keyring()
	if err != nil {
		if strings.HasPrefix(err.Error(), "signers[") {
			return err
		}
		return fmt.Errorf("signers: %v", err)
	}
	if k.Len() == 0 {
		return nil
	}
	check := func(where string, names []string) error {
		for _, n := range names {
			p, ok := k.Person(n)
			if !ok {
				return fmt.Errorf("%s: %q is not a listed signer: add them under signers: with their SSH key", where, n)
			}
			if p.Name != strings.TrimPrefix(n, "human:") {
				return fmt.Errorf("%s: %q is an alias of signer %s: name them as %s", where, n, p.Name, p.Name)
			}
			if !p.Can(signers.RoleApprove) {
				return fmt.Errorf("%s: %q may not approve (roles: %v): give them the approve role", where, n, p.Roles)
			}
		}
		return nil
	}
	if err := check("approvers", c.Approvers); err != nil {
		return err
	}
	for i, g := range c.Gates {
		if err := check(fmt.Sprintf("gates[%d] (%s).approvers", i, g.ID), g.Approvers); err != nil {
			return err
		}
	}
	return nil
}
