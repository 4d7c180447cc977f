package sandbox

import (
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/agentos/agentos/config"
)

// Identity is a host uid and gid: the dedicated unprivileged identity
// confined commands run as when agentos, as root, can map one.
type Identity struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// DefaultIdentity is the dedicated identity unless the policy sets
// sandbox.identity: above the ranges distributions give users and
// systemd gives containers (up to 1879048191), below 2^31 (tools that
// keep ids signed), and in no /etc/passwd.
var DefaultIdentity = Identity{UID: config.DefaultSandboxUID, GID: config.DefaultSandboxUID}

func (id Identity) orDefault() Identity {
	if id.UID == 0 {
		id.UID = DefaultIdentity.UID
	}
	if id.GID == 0 {
		id.GID = DefaultIdentity.GID
	}
	return id
}

// IdentityFromConfig is sandbox.identity, defaults filled in.
func IdentityFromConfig(c config.SandboxIdentity) Identity {
	var id Identity
	if c.UID != nil {
		id.UID = *c.UID
	}
	if c.GID != nil {
		id.GID = *c.GID
	}
	return id.orDefault()
}

// identitySetupError: the helper could not set up what only the dedicated
// identity needs (the overlay from idmapped layers before Linux 5.19,
// say); nothing ran, and runs of that kind now start as the caller. Run
// starts this one again so.
type identitySetupError struct{ err error }

func (e *identitySetupError) Error() string { return e.err.Error() }

// replayable reports whether a run's stdin can be given to a second
// helper: nothing, a file the first helper never read (it does not read
// before the exec), or an empty reader.
func replayable(r io.Reader) bool {
	switch v := r.(type) {
	case nil, *os.File:
		return true
	case *bytes.Reader:
		return v.Len() == 0
	case *strings.Reader:
		return v.Len() == 0
	}
	return false
}
