package auditkey_test

import (
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
)

func TestCreateLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "store-1")
	k, err := auditkey.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, %v; want 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v; want 0700", di.Mode())
	}
	l, err := auditkey.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Public.Equal(k.Public) {
		t.Fatal("loaded a different key")
	}
	msg := []byte("checkpoint")
	if !ed25519.Verify(k.Public, msg, ed25519.Sign(l.Private, msg)) {
		t.Fatal("loaded private key does not sign for the public key")
	}
	if _, err := auditkey.Create(path); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("second Create: %v; want a conflict, never an overwrite", err)
	}
	pub, err := auditkey.ParsePublic(k.AuthorizedKey())
	if err != nil || !pub.Equal(k.Public) {
		t.Fatalf("ParsePublic(AuthorizedKey) = %v, %v", pub, err)
	}
	// ssh-keygen reads the file as an OpenSSH key and prints the same public key.
	if kg, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command(kg, "-y", "-f", path).Output()
		if err != nil {
			t.Fatalf("ssh-keygen -y: %v", err)
		}
		if got := strings.Fields(string(out)); len(got) < 2 || got[0]+" "+got[1] != k.AuthorizedKey() {
			t.Fatalf("ssh-keygen -y printed %q, want %q", out, k.AuthorizedKey())
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("ssh-keygen is missing (CI must install openssh-client)")
	}
}

func TestLoadRefusesLooseModesAndOtherKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	if _, err := auditkey.Create(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := auditkey.Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a 0644 key: %v; want a refusal naming chmod 600", err)
	}
	if _, err := auditkey.Load(filepath.Join(dir, "missing")); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("Load of a missing key: %v; want not found", err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a key"), 0o600)
	if _, err := auditkey.Load(junk); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("Load of junk: %v; want invalid", err)
	}
	if kg, err := exec.LookPath("ssh-keygen"); err == nil {
		rsa := filepath.Join(dir, "rsa")
		if out, err := exec.Command(kg, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		if _, err := auditkey.Load(rsa); err == nil || !strings.Contains(err.Error(), "not an ed25519") {
			t.Fatalf("Load of an RSA key: %v; want a refusal", err)
		}
		ed := filepath.Join(dir, "ed")
		if out, err := exec.Command(kg, "-q", "-t", "ed25519", "-N", "", "-f", ed).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		if _, err := auditkey.Load(ed); err != nil {
			t.Fatalf("a user's own ssh-keygen ed25519 key must load: %v", err)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	if p, err := auditkey.Resolve("", "s1"); err != nil || p != "/cfg/agentos/audit/s1" {
		t.Fatalf("Resolve default = %q, %v", p, err)
	}
	if _, err := auditkey.Resolve("", "../x"); err == nil {
		t.Fatal("a store id with a slash must not place a key elsewhere")
	}
	if _, err := auditkey.Resolve("relative/key", "s1"); err == nil {
		t.Fatal("a relative key_file must be refused")
	}
	if p, err := auditkey.Resolve("/k/audit", "s1"); err != nil || p != "/k/audit" {
		t.Fatalf("Resolve configured = %q, %v", p, err)
	}
}
