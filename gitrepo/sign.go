package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"

	"github.com/agentos/agentos"
)

// signArgs are the git options that make commit-tree sign (-S goes after
// the subcommand, see CommitTree): the key the policy names, as an SSH key, or git's own
// signing configuration.
func signArgs(id agentos.CommitIdentity) []string {
	if !id.Sign {
		return nil
	}
	if id.SigningKey != "" {
		return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + id.SigningKey}
	}
	return nil
}

func signError(id agentos.CommitIdentity, stderr string, err error) error {
	key := id.SigningKey
	if key == "" {
		key = "git's user.signingkey"
	}
	msg := strings.TrimSpace(stderr)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return agentos.WrapError(agentos.EDENIED, err, "cannot sign the commit with %s (%s): nothing was committed; fix the key (a readable SSH private key without passphrase, or one loaded in ssh-agent) or remove the signing setting", key, msg)
}

// SignsCommits reports the repository's own wish to have its commits
// signed with SSH: commit.gpgsign in its config (git config --local) and
// gpg.format ssh. git commit-tree does not honour it by itself. A global
// commit.gpgsign is not followed: it is a person's setting for their own
// commits, often an OpenPGP key behind a pinentry an unattended run cannot
// answer.
func (r *Repo) SignsCommits(ctx context.Context) bool {
	out, err := r.Git(ctx, "config", "--local", "--type=bool", "--get", "commit.gpgsign")
	if err != nil || strings.TrimSpace(out) != "true" {
		return false
	}
	f, _ := r.Git(ctx, "config", "--get", "gpg.format")
	return strings.TrimSpace(f) == "ssh"
}

// GitSigningKey is git's user.signingkey when gpg.format is ssh, else "".
func (r *Repo) GitSigningKey(ctx context.Context) string {
	f, _ := r.Git(ctx, "config", "--get", "gpg.format")
	if strings.TrimSpace(f) != "ssh" {
		return ""
	}
	k, _ := r.Git(ctx, "config", "--get", "user.signingkey")
	return strings.TrimSpace(k)
}

// CommitSigned reports whether commit's object carries a signature header.
func (r *Repo) CommitSigned(ctx context.Context, commit string) (bool, error) {
	out, err := r.Git(ctx, "cat-file", "commit", commit)
	if err != nil {
		return false, err
	}
	head, _, _ := strings.Cut(out, "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, "gpgsig ") || strings.HasPrefix(line, "gpgsig-sha256 ") {
			return true, nil
		}
	}
	return false, nil
}

// VerifyCommit checks commit's signature with git verify-commit; with
// allowedSigners set, against that allowed-signers file rather than git's
// configured one. It returns what git said.
func (r *Repo) VerifyCommit(ctx context.Context, commit, allowedSigners string) (string, error) {
	var args []string
	if allowedSigners != "" {
		args = append(args, "-c", "gpg.ssh.allowedSignersFile="+allowedSigners)
	}
	args = append(args, "verify-commit", "--raw", commit)
	cmd := gitCommand(ctx, r.Root, nil, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	msg := strings.TrimSpace(out.String())
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return msg, err
		}
		return msg, agentos.Errorf(agentos.ECONFLICT, "the commit's signature does not verify: %s", firstLine(msg))
	}
	return msg, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
