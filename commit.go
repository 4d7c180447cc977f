package agentos

import (
	"fmt"
	"strings"
)

// Trailer keys of every AgentOS commit (red line 7). The pipeline writes
// them (CommitMessage) and trace reads them back; any git adapter parses
// the keys with the AgentOS- prefix.
const (
	TrailerTask   = "AgentOS-Task"
	TrailerRun    = "AgentOS-Run"
	TrailerPlan   = "AgentOS-Plan"
	TrailerDiff   = "AgentOS-Diff"
	TrailerIntent = "AgentOS-Intent"
	// TrailerAudit is the audit chain head when the commit was made
	// ("SEQ:HASH"): pushed anywhere, the history witnesses the chain.
	TrailerAudit = "AgentOS-Audit"
)

// TrailerKeys is the order trailers are written in.
var TrailerKeys = []string{TrailerTask, TrailerRun, TrailerPlan, TrailerDiff, TrailerIntent, TrailerAudit}

// CommitIdentity is the author and committer of AgentOS commits.
type CommitIdentity struct {
	Name, Email string
	// Sign signs every commit object the way git does (a gpgsig header),
	// with SigningKey when set (an SSH key: gpg.format=ssh), else with
	// git's own user.signingkey and gpg.format. A commit that cannot be
	// signed is not made.
	Sign       bool
	SigningKey string
}

// CommitMessage builds a commit message with trailers in TrailerKeys order.
func CommitMessage(subject, body string, trailers map[string]string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(subject))
	b.WriteString("\n\n")
	if body = strings.TrimSpace(body); body != "" {
		b.WriteString(body)
		b.WriteString("\n\n")
	}
	for _, k := range TrailerKeys {
		if v, ok := trailers[k]; ok {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// TreeEntry is one entry of a commit's tree.
type TreeEntry struct {
	Path    string
	Dir     bool
	Symlink bool
}

// DirLister reads a commit's tree one directory at a time: ListDir returns
// the entries directly in dir ("." for the root), nil when dir is not a
// directory of the commit.
type DirLister interface {
	ListDir(dir string) ([]TreeEntry, error)
	Close() error
}
