package gitrepo

import (
	"bytes"
	"context"
	"os/exec"
	"strings"

	"github.com/agentos/agentos"
)

// zeroOID makes update-ref require that a ref does not exist yet.
const zeroOID = "0000000000000000000000000000000000000000"

// maxNoteAttempts bounds how often AddNote chases a notes ref that other
// writers keep moving.
const maxNoteAttempts = 8

// AddNote sets commit's note under ref (refs/notes/…) to note, replacing
// any note it had, and keeps the other notes. It works on objects and refs
// only (no working tree, no index) and moves ref with a compare-and-swap, so
// two processes adding notes at once both land: git notes add would let the
// later one drop the earlier one's note.
func (r *Repo) AddNote(ctx context.Context, ref, commit string, note []byte, id agentos.CommitIdentity) error {
	blob, err := r.gitStdin(ctx, nil, note, "hash-object", "-w", "--stdin")
	if err != nil {
		return err
	}
	for attempt := 0; attempt < maxNoteAttempts; attempt++ {
		old, _ := r.Git(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
		old = strings.TrimSpace(old)
		var tree bytes.Buffer
		if old != "" {
			// The root level only: notes fanned out into directories by
			// git stay where they are, and git reads both layouts.
			ls, err := r.Git(ctx, "ls-tree", "-z", old)
			if err != nil {
				return err
			}
			for _, e := range strings.Split(ls, "\x00") {
				if _, name, ok := strings.Cut(e, "\t"); ok && name != commit {
					tree.WriteString(e)
					tree.WriteByte(0)
				}
			}
		}
		tree.WriteString("100644 blob " + blob + "\t" + commit + "\x00")
		treeSHA, err := r.gitStdin(ctx, nil, tree.Bytes(), "mktree", "-z")
		if err != nil {
			return err
		}
		args := []string{"commit-tree", treeSHA}
		if old != "" {
			args = append(args, "-p", old)
		}
		args = append(args, "-F", "-")
		nc, err := r.gitStdin(ctx, identityEnv(id), []byte("Notes added by 'agentos'\n"), args...)
		if err != nil {
			return err
		}
		want := old
		if want == "" {
			want = zeroOID
		}
		if _, err := r.Git(ctx, "update-ref", "-m", "agentos: note for "+commit, ref, nc, want); err == nil {
			return nil
		}
	}
	return agentos.Errorf(agentos.ECONFLICT, "%s kept moving: the note for %s was not written after %d attempts", ref, commit, maxNoteAttempts)
}

// Note returns commit's note under ref; ENOTFOUND when it has none.
func (r *Repo) Note(ctx context.Context, ref, commit string) ([]byte, error) {
	out, err := r.Git(ctx, "notes", "--ref="+ref, "show", commit)
	if err != nil {
		if ge, ok := err.(*GitError); ok && strings.Contains(ge.Stderr, "no note found") {
			return nil, agentos.Errorf(agentos.ENOTFOUND, "commit %s has no note under %s", commit, ref)
		}
		return nil, err
	}
	return []byte(out), nil
}

// gitStdin runs git in the main tree with stdin and returns stdout, trimmed.
func (r *Repo) gitStdin(ctx context.Context, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.Root
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", &GitError{Args: args[:1], Stderr: errb.String(), Err: err}
	}
	return strings.TrimSpace(out.String()), nil
}
