package auditanchor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/agentos/agentos"
)

// Ref is the git ref checkpoints are written to: a chain of commits, each
// with one file, checkpoint.json, outside every branch and the index, so
// `git push origin refs/agentos/audit` publishes it beside the branch.
const Ref = "refs/agentos/audit"

// MaxWalk bounds how many commits of a branch or of Ref one verification
// reads: enough for years of a busy repository, and one git process.
const MaxWalk = 20000

// Repo is the git a checkpoint log in git needs (package gitrepo).
type Repo interface {
	Git(ctx context.Context, args ...string) (string, error)
	AppendToRef(ctx context.Context, ref, name string, content []byte, message string, id agentos.CommitIdentity) (string, error)
}

// Git reads and writes the evidence kept in git.
type Git struct {
	Repo Repo
	// Identity authors the checkpoint commits.
	Identity agentos.CommitIdentity
}

func (g Git) run(ctx context.Context, args ...string) (string, error) {
	out, err := g.Repo.Git(ctx, args...)
	if err != nil {
		return out, agentos.WrapError(agentos.EINTERNAL, err, "%v", err)
	}
	return out, nil
}

// RefHead is the commit Ref points at, "" when there is none.
func (g Git) RefHead(ctx context.Context) string {
	out, err := g.run(ctx, "rev-parse", "--verify", "--quiet", Ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// WriteRef appends c to Ref: a new commit whose tree holds
// checkpoint.json and whose message carries the same JSON, moved with a
// compare-and-swap so two writers never lose each other's checkpoint.
func (g Git) WriteRef(ctx context.Context, c Checkpoint) (string, error) {
	js := append(c.Marshal(), '\n')
	msg := fmt.Sprintf("AgentOS audit checkpoint %d:%s\n\n%s", c.Seq, c.Head, js)
	sha, err := g.Repo.AppendToRef(ctx, Ref, "checkpoint.json", js, msg, g.Identity)
	if err != nil {
		if _, ok := err.(*agentos.Error); ok {
			return "", err
		}
		return "", agentos.WrapError(agentos.EINTERNAL, err, "cannot write %s: %v", Ref, err)
	}
	return sha, nil
}

// ReadRef reads the checkpoints of Ref, newest first (none when there is
// no ref), from the commit messages: one git process however many there
// are.
func (g Git) ReadRef(ctx context.Context, limit int) ([]Entry, error) {
	if g.RefHead(ctx) == "" {
		return nil, nil
	}
	out, err := g.run(ctx, "log", "-n", strconv.Itoa(limit), "--format=%H%x00%B%x1e", Ref, "--")
	if err != nil {
		return nil, err
	}
	var es []Entry
	for rec := range strings.SplitSeq(out, "\x1e") {
		sha, body, ok := strings.Cut(strings.TrimSpace(rec), "\x00")
		if !ok {
			continue
		}
		where := Ref + " " + short(sha)
		i := strings.Index(body, "{")
		if i < 0 {
			return es, agentos.Errorf(agentos.ECONFLICT, "%s holds no checkpoint: the ref was rewritten", where)
		}
		c, err := Parse([]byte(strings.TrimSpace(body[i:])))
		if err != nil {
			return es, agentos.Errorf(agentos.ECONFLICT, "%s does not parse: the ref was rewritten", where)
		}
		es = append(es, Entry{c, where})
	}
	return es, nil
}

// Trailer is one commit's AgentOS-Audit trailer.
type Trailer struct {
	Commit string
	// Task is the commit's AgentOS-Task.
	Task string
	Seq  int64
	Hash string
}

// FormatTrailer is the AgentOS-Audit value of a chain head.
func FormatTrailer(seq int64, hash string) string { return fmt.Sprintf("%d:%s", seq, hash) }

// ParseTrailer reads an AgentOS-Audit value back.
func ParseTrailer(v string) (int64, string, bool) {
	s, h, ok := strings.Cut(strings.TrimSpace(v), ":")
	if !ok {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 || !strings.HasPrefix(h, "sha256:") {
		return 0, "", false
	}
	return seq, h, true
}

// Trailers reads the AgentOS-Audit trailers of the newest limit commits
// of branch that carry one, newest first, leaving out since and its
// ancestors (commits of an earlier store) when since is set: one git
// process. A malformed value is an error: AgentOS never writes one.
func (g Git) Trailers(ctx context.Context, branch, since string, limit int) ([]Trailer, error) {
	ref := "refs/heads/" + branch
	if _, err := g.run(ctx, "rev-parse", "--verify", "--quiet", ref); err != nil {
		return nil, nil // an unborn or deleted branch witnesses nothing
	}
	args := []string{"log", "-n", strconv.Itoa(limit), "--fixed-strings", "--grep", agentos.TrailerAudit + ": ",
		"--format=%H%x00%(trailers:key=" + agentos.TrailerAudit + ",valueonly,separator=%x2C)%x00%(trailers:key=" + agentos.TrailerTask + ",valueonly,separator=%x2C)", ref}
	if since != "" {
		args = append(args, "^"+since)
	}
	out, err := g.run(ctx, append(args, "--")...)
	if err != nil {
		return nil, err
	}
	var ts []Trailer
	for line := range strings.SplitSeq(out, "\n") {
		sha, v, ok := strings.Cut(line, "\x00")
		v, task, _ := strings.Cut(v, "\x00")
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		seq, h, ok := ParseTrailer(v)
		if !ok {
			return ts, agentos.Errorf(agentos.ECONFLICT, "commit %s has a malformed %s trailer %q", short(sha), agentos.TrailerAudit, strings.TrimSpace(v))
		}
		ts = append(ts, Trailer{Commit: sha, Task: strings.TrimSpace(task), Seq: seq, Hash: h})
	}
	return ts, nil
}

// RecentTrailers reads the AgentOS-Audit trailers among the newest walk
// commits of branch, newest first, stopping at since (the first commit of
// this store's era) when it is among them. Unlike Trailers with since, the
// walk never goes further than walk commits: excluding since's ancestors
// makes git walk every commit back to since first, which grows with every
// task committed since the store was made. One git process.
func (g Git) RecentTrailers(ctx context.Context, branch, since string, walk int) ([]Trailer, error) {
	ref := "refs/heads/" + branch
	if _, err := g.run(ctx, "rev-parse", "--verify", "--quiet", ref); err != nil {
		return nil, nil
	}
	out, err := g.run(ctx, "log", "-n", strconv.Itoa(walk),
		"--format=%H%x00%(trailers:key="+agentos.TrailerAudit+",valueonly,separator=%x2C)%x00%(trailers:key="+agentos.TrailerTask+",valueonly,separator=%x2C)", ref, "--")
	if err != nil {
		return nil, err
	}
	var ts []Trailer
	for line := range strings.SplitSeq(out, "\n") {
		sha, v, ok := strings.Cut(line, "\x00")
		if !ok {
			continue
		}
		if since != "" && sha == since {
			break
		}
		v, task, _ := strings.Cut(v, "\x00")
		if strings.TrimSpace(v) == "" {
			continue
		}
		seq, h, ok := ParseTrailer(v)
		if !ok {
			return ts, agentos.Errorf(agentos.ECONFLICT, "commit %s has a malformed %s trailer %q", short(sha), agentos.TrailerAudit, strings.TrimSpace(v))
		}
		ts = append(ts, Trailer{Commit: sha, Task: strings.TrimSpace(task), Seq: seq, Hash: h})
	}
	return ts, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Head is the commit branch points at.
func (g Git) Head(ctx context.Context, branch string) (string, error) {
	out, err := g.run(ctx, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch+"^{commit}")
	return strings.TrimSpace(out), err
}
