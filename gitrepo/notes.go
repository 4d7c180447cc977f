package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// maxNoteAttempts bounds how often AddNote chases a notes ref that other
// writers keep moving; between attempts it waits a random few
// milliseconds, growing, so writers that collided do not collide again.
const maxNoteAttempts = 32

// AddNote sets commit's note under ref (refs/notes/…) to note, replacing
// any note it had, and keeps the other notes. It works on objects and refs
// only (no working tree, no index): one git fast-import writes the note,
// its trees (in git's notes fan-out) and the notes commit, whose parent is
// the ref as read before, and moves the ref only if it still points there.
// So two processes adding notes at once both land, where git notes add
// would let the later one drop the earlier one's note.
func (r *Repo) AddNote(ctx context.Context, ref, commit string, note []byte, id agentos.CommitIdentity) error {
	var lastErr error
	for attempt := 0; attempt < maxNoteAttempts; attempt++ {
		old, _ := r.Git(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
		old = strings.TrimSpace(old)
		var in bytes.Buffer
		msg := "Notes added by 'agentos'\n"
		fmt.Fprintf(&in, "commit %s\ncommitter %s <%s> %d +0000\ndata %d\n%s", ref, id.Name, id.Email, time.Now().Unix(), len(msg), msg)
		if old != "" {
			fmt.Fprintf(&in, "from %s\n", old)
		}
		fmt.Fprintf(&in, "N inline %s\ndata %d\n", commit, len(note))
		in.Write(note)
		in.WriteString("\ndone\n")
		// A refused update (the ref moved since it was read: the new tip
		// does not contain it) is a non-zero exit: read it again and retry.
		if _, lastErr = r.gitStdin(ctx, nil, in.Bytes(), "fast-import", "--quiet", "--done"); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(time.Duration(1+rand.IntN(2+attempt)) * time.Millisecond):
		}
	}
	return agentos.WrapError(agentos.ECONFLICT, lastErr, "the note for %s was not written after %d attempts: %v", commit, maxNoteAttempts, lastErr)
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
	cmd := gitCommand(ctx, r.Root, env, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", &GitError{Args: args[:1], Stderr: errb.String(), Err: err}
	}
	return strings.TrimSpace(out.String()), nil
}
