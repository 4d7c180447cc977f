package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"golang.org/x/crypto/ssh"
)

// keyOf is the private key file of signer name made by signersYAML for the
// repository dir (kept beside it, outside the worktree).
func keyOf(dir, name string) string { return filepath.Join(dir+".keys", name) }

// signersYAML makes an ed25519 key for each name (OpenSSH format, as
// ssh-keygen writes it) and returns the policy's signers section listing
// them as pasted allowed_signers lines.
func signersYAML(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("signers:\n")
	for _, n := range names {
		pub := newKeyFile(t, keyOf(dir, n))
		fmt.Fprintf(&b, "  - %s %s\n", n, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
	}
	return b.String()
}

func newKeyFile(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// osHuman is the actor of the OS user running the tests.
func osHuman(t *testing.T) agentos.Actor {
	t.Helper()
	me, err := osUser()
	if err != nil {
		t.Fatal(err)
	}
	return agentos.Human(me)
}
