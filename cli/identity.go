package cli

import (
	"context"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/signers"
	"golang.org/x/crypto/ssh"
)

// SigningKeyEnv names a signing key file (private key, or a public key
// whose private half is in ssh-agent) when --signing-key is not given.
const SigningKeyEnv = "AGENTOS_SIGNING_KEY"

// osUser is the operating-system user running this process: an identity
// the person cannot choose with a flag or an environment variable.
func osUser() (string, error) {
	u, err := user.Current()
	if err != nil || u.Username == "" {
		// No passwd entry (a container's arbitrary uid): the uid itself.
		return "uid-" + strconv.Itoa(os.Getuid()), nil
	}
	name := u.Username
	if err := agentos.ValidHumanName(name); err != nil {
		return "", agentos.Errorf(agentos.EDENIED, "the OS user name %v: it cannot stand for a person in the audit log", err)
	}
	return name, nil
}

// wantAs is --as without a "human:" prefix ("" when not given). A name that
// reads as an agent is refused here, whatever the policy says.
func (f *Factory) wantAs() (string, error) {
	as := strings.TrimSpace(f.As)
	if as == "" {
		return "", nil
	}
	if strings.HasPrefix(as, "agent:") {
		return "", agentos.Errorf(agentos.EDENIED, "--as %q: an agent identity cannot act as a human", as)
	}
	name := strings.TrimPrefix(as, "human:")
	if err := agentos.ValidHumanName(name); err != nil {
		return "", agentos.Errorf(agentos.EDENIED, "--as: %v", err)
	}
	return name, nil
}

// Actor is who runs the command, as recorded on what it creates (a task,
// a plan, a cancellation). It is the OS user; with signers listed, --as may
// name the listed person whose key (ssh-agent or --signing-key) this user holds.
// --as grants nothing by itself: any other name is refused.
func (f *Factory) Actor(ctx context.Context) (agentos.Actor, error) {
	if f.agent != "" {
		// A front door for agents (agentos mcp) acts as its agent, never
		// as the person who started it.
		return f.agent, nil
	}
	as, err := f.wantAs()
	if err != nil {
		return "", err
	}
	me, err := osUser()
	if err != nil {
		return "", err
	}
	if as == "" || as == me {
		return agentos.Human(me), nil
	}
	id, err := f.Decider(ctx, "")
	if err != nil {
		return "", err
	}
	return id.Actor, nil
}

// Decider is the identity that approves, rejects or answers (role), and
// what signs for it:
//   - with signers listed in the policy, the listed person whose key is
//     offered (a --signing-key/AGENTOS_SIGNING_KEY file, else ssh-agent) and holds
//     role; --as picks among the people those keys prove. Every decision is
//     signed (SSHSIG, namespace "agentos").
//   - without signers (solo use), the OS user, unsigned; --as may only name
//     that same user.
func (f *Factory) Decider(ctx context.Context, role signers.Role) (approval.Identity, error) {
	if f.agent != "" {
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "%s is an agent: answering, approving and rejecting are for people", f.agent)
	}
	as, err := f.wantAs()
	if err != nil {
		return approval.Identity{}, err
	}
	me, err := osUser()
	if err != nil {
		return approval.Identity{}, err
	}
	cfg, err := f.Config(ctx)
	if err != nil {
		return approval.Identity{}, err
	}
	keys, err := cfg.Keyring()
	if err != nil {
		return approval.Identity{}, agentos.WrapError(agentos.EINVALID, err, "%s: signers: %v", agentos.PolicyFile, err)
	}
	if keys.Len() == 0 {
		if as != "" && as != me {
			return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "--as %s: you are the OS user %s and the policy lists no signers, so you act as %s; --as grants nothing by itself (people known by SSH keys are listed under signers: in %s)", as, me, me, agentos.PolicyFile)
		}
		return approval.Identity{Actor: agentos.Human(me), OSUser: me}, nil
	}
	if as != "" {
		p, ok := keys.Person(as)
		if !ok {
			return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "--as %s: not a signer listed in agentos.yaml; --as grants nothing, only a listed key does", as)
		}
		as = p.Name
	}
	keyFile := f.KeyFile
	if keyFile == "" {
		keyFile = os.Getenv(SigningKeyEnv)
	}
	offered, done, err := signers.Source{KeyFile: keyFile, AgentSock: os.Getenv("SSH_AUTH_SOCK")}.Signers()
	if err != nil {
		return approval.Identity{}, agentos.WrapError(agentos.EDENIED, err, "the policy lists signers, so you need your SSH key: %v (load it with `ssh-add`, or pass --signing-key FILE)", err)
	}
	f.closers = append(f.closers, done)
	type cand struct {
		p  signers.Person
		sg ssh.Signer
	}
	var cands []cand
	var seen []string
	for _, sg := range offered {
		p, ok := keys.ByKey(sg.PublicKey())
		if !ok {
			continue
		}
		seen = append(seen, p.Name)
		if role != "" && !p.Can(role) {
			continue
		}
		if as != "" && p.Name != as {
			continue
		}
		if !slices.ContainsFunc(cands, func(c cand) bool { return c.p.Name == p.Name }) {
			cands = append(cands, cand{p, sg})
		}
	}
	what := "decide"
	if role != "" {
		what = string(role)
	}
	switch {
	case len(cands) == 1:
		c := cands[0]
		return approval.Identity{Actor: c.p.Actor(), OSUser: me, Sign: func(msg []byte) (*agentos.SignedStatement, error) {
			sig, err := signers.Sign(c.sg, msg)
			if err != nil {
				return nil, err
			}
			return &agentos.SignedStatement{Statement: string(msg), Signature: sig, Namespace: signers.Namespace, Key: ssh.FingerprintSHA256(c.sg.PublicKey())}, nil
		}}, nil
	case len(cands) > 1:
		var names []string
		for _, c := range cands {
			names = append(names, c.p.Name)
		}
		return approval.Identity{}, agentos.Errorf(agentos.EINVALID, "keys of several signers are offered (%s): pick one with --as NAME", strings.Join(names, ", "))
	case as != "" && len(seen) > 0 && !slices.Contains(seen, as):
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "--as %s: the keys offered are %s's, not %s's; --as only picks among the people your keys prove", as, strings.Join(seen, ", "), as)
	case len(seen) > 0:
		return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "%s may not %s: the policy does not give them the %s role", strings.Join(seen, ", "), what, what)
	}
	return approval.Identity{}, agentos.Errorf(agentos.EDENIED, "none of the %d key(s) offered belongs to a signer listed in agentos.yaml: load your listed key with `ssh-add`, or pass --signing-key FILE", len(offered))
}
