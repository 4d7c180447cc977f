package signers

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Source says where a person's signing key is: a key file when KeyFile is
// set, otherwise the ssh-agent at AgentSock (SSH_AUTH_SOCK). A KeyFile
// holding a public key (a .pub file, as git's user.signingkey allows) names
// which of the agent's keys to use.
type Source struct {
	KeyFile   string
	AgentSock string
}

// Signers returns the keys s offers and a func that releases them (the
// agent connection). It never prompts: a passphrase-protected key file is
// refused with the advice to load it into ssh-agent.
func (s Source) Signers() ([]ssh.Signer, func(), error) {
	if s.KeyFile != "" {
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("signing key: %v", err)
		}
		if pub, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
			ss, done, err := s.agent()
			if err != nil {
				return nil, nil, fmt.Errorf("signing key %s is a public key, whose private half must be in ssh-agent: %v", s.KeyFile, err)
			}
			for _, x := range ss {
				if string(x.PublicKey().Marshal()) == string(pub.Marshal()) {
					return []ssh.Signer{x}, done, nil
				}
			}
			done()
			return nil, nil, fmt.Errorf("ssh-agent does not hold the key of %s (%s): add it with `ssh-add`", s.KeyFile, ssh.FingerprintSHA256(pub))
		}
		sg, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, nil, fmt.Errorf("signing key %s is protected by a passphrase: load it with `ssh-add %s` and sign through ssh-agent instead", s.KeyFile, s.KeyFile)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("signing key %s: %v", s.KeyFile, err)
		}
		return []ssh.Signer{sg}, func() {}, nil
	}
	return s.agent()
}

func (s Source) agent() ([]ssh.Signer, func(), error) {
	if s.AgentSock == "" {
		return nil, nil, errors.New("no ssh-agent (SSH_AUTH_SOCK is unset) and no signing key file")
	}
	conn, err := net.Dial("unix", s.AgentSock)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach ssh-agent at SSH_AUTH_SOCK: %v", err)
	}
	ss, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent: %v", err)
	}
	return ss, func() { conn.Close() }, nil
}
