// Package auditkey keeps a repository's audit key: the ed25519 key that
// signs audit checkpoints and commit attestations, so the audit chain can be
// checked against evidence its database does not hold.
//
// The key lives outside the repository, its worktrees and the store: by
// default under the invoking user's config directory
// ($XDG_CONFIG_HOME/agentos/audit, else ~/.config/agentos/audit), one file
// per store identity, mode 0600 in a 0700 directory. That directory is among
// agentos.CredentialPaths, so no sandboxed command ever sees it. A user may
// supply their own key (an OpenSSH ed25519 private key without passphrase,
// the format `ssh-keygen -t ed25519` writes); the file this package writes
// is in the same format, so `ssh-keygen -y -f KEY` prints its public half.
package auditkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/agentos/agentos"
)

// Key is a loaded audit key.
type Key struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	// Path is the file it was loaded from or created at.
	Path string
}

// Dir is the directory default keys live in.
func Dir() (string, error) {
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", agentos.WrapError(agentos.EINVALID, err, "cannot place the audit key: no home directory (%v): set audit.key_file in agentos.yaml", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "agentos", "audit"), nil
}

// DefaultPath is where the audit key of the store with identity storeID is
// kept when the policy names no key file.
func DefaultPath(storeID string) (string, error) {
	if storeID == "" || strings.ContainsAny(storeID, `/\`) || storeID == "." || storeID == ".." {
		return "", agentos.Errorf(agentos.EINVALID, "cannot place the audit key: store identity %q is not a file name", storeID)
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, storeID), nil
}

// Resolve returns the key file to use: configured (audit.key_file; a
// leading ~/ is the user's home) when set, else DefaultPath(storeID).
func Resolve(configured, storeID string) (string, error) {
	if configured == "" {
		return DefaultPath(storeID)
	}
	if rest, ok := strings.CutPrefix(configured, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", agentos.WrapError(agentos.EINVALID, err, "audit.key_file %s: no home directory (%v)", configured, err)
		}
		configured = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(configured) {
		return "", agentos.Errorf(agentos.EINVALID, "audit.key_file %s: name an absolute path (or ~/…) outside the repository", configured)
	}
	return filepath.Clean(configured), nil
}

// Create makes a new key at path (its directory 0700, the file 0600). An
// existing file is never overwritten: a second key would orphan every
// checkpoint the first one signed.
func Create(path string) (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot generate the audit key: %v", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "agentos audit key")
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot encode the audit key: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the audit key's directory: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, agentos.Errorf(agentos.ECONFLICT, "an audit key already exists at %s: load it, or move it away to make a new one (checkpoints it signed then no longer verify)", path)
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the audit key %s: %v", path, err)
	}
	_, werr := f.Write(pem.EncodeToMemory(block))
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, agentos.WrapError(agentos.EINTERNAL, werr, "cannot write the audit key %s: %v", path, werr)
	}
	return &Key{Private: priv, Public: pub, Path: path}, nil
}

// Load reads the key at path. Like ssh, it refuses a key file others can
// read or write: a key anyone could have copied vouches for nothing.
func Load(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, agentos.WrapError(agentos.ENOTFOUND, err, "no audit key at %s: run `agentos init` to create one, or set audit.key_file to your own ed25519 key", path)
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the audit key %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, agentos.Errorf(agentos.EINVALID, "the audit key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "the audit key %s is accessible by others (mode %04o): run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the audit key %s: %v", path, err)
	}
	raw, err := ssh.ParseRawPrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, agentos.Errorf(agentos.EINVALID, "the audit key %s has a passphrase: AgentOS signs unattended, so give it a key without one", path)
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "the audit key %s does not parse (%v): it must be an OpenSSH ed25519 private key", path, err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		priv = k
	case *ed25519.PrivateKey:
		priv = *k
	default:
		return nil, agentos.Errorf(agentos.EINVALID, "the audit key %s is a %T, not an ed25519 key: make one with `ssh-keygen -t ed25519 -N '' -f FILE`", path, raw)
	}
	return &Key{Private: priv, Public: priv.Public().(ed25519.PublicKey), Path: path}, nil
}

// LoadOrCreate loads the key at path, creating it when there is none (for
// `agentos init`). created says which.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	k, err = Load(path)
	if err == nil || agentos.ErrorCode(err) != agentos.ENOTFOUND {
		return k, false, err
	}
	k, err = Create(path)
	return k, err == nil, err
}

// AuthorizedKey is the public half in authorized_keys form
// ("ssh-ed25519 AAAA…"), to pin in the committed policy or compare by eye.
func (k *Key) AuthorizedKey() string {
	return PublicString(k.Public)
}

// PublicString formats an ed25519 public key in authorized_keys form.
func PublicString(pub ed25519.PublicKey) string {
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

// ParsePublic reads an authorized_keys line back into an ed25519 key.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "audit public key %q does not parse: %v", s, err)
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return nil, agentos.Errorf(agentos.EINVALID, "audit public key %q is not ed25519", s)
	}
	pub, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, agentos.Errorf(agentos.EINVALID, "audit public key is a %s key, not ed25519", pk.Type())
	}
	return pub, nil
}

// String names the key for messages: its path and public key.
func (k *Key) String() string { return fmt.Sprintf("%s (%s)", k.Path, k.AuthorizedKey()) }
