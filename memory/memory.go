// Package memory is what AgentOS knows about a repository: facts,
// conventions, decisions, answers and lessons, searchable by their stemmed
// words and frozen into a hashed MemoryPack for every plan.
//
// Two implementations share one interface, Service: Store keeps the memory in
// the repository's store through an Index, which the store adapters implement
// with their own full-text search (package sqlite with FTS5, package postgres
// with tsvector), and Client talks to a Store served by Server over HTTP
// JSON, so several agents and workers can share one memory. FromConfig picks
// one from agentos.yaml. This package holds no SQL.
//
// Items are never deleted: Edit writes a new item and marks the old one
// superseded by it, Remove marks it superseded by "removed". Superseded items
// are out of the full-text index, so search and packs never see them, while
// Get still returns them for old packs.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"math"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentos/agentos"
)

// Service is the memory as the coordinator and the CLI use it.
type Service interface {
	// Add stores a new item and returns it with its id and times set.
	// EINVALID if the item is malformed.
	Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error)
	// Get returns an item, superseded or not. ENOTFOUND if unknown.
	Get(ctx context.Context, id string) (agentos.MemoryItem, error)
	// List returns items newest first.
	List(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error)
	// Edit supersedes item id with a copy holding text, authored by actor.
	// ENOTFOUND if unknown, ECONFLICT if already superseded.
	Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error)
	// Remove supersedes item id with nothing. ENOTFOUND, ECONFLICT as Edit.
	Remove(ctx context.Context, id, actor string) error
	// Search ranks live items for q; any text is a valid query.
	Search(ctx context.Context, q Query) ([]Hit, error)
	// Promote makes a person vouch for an item, usually an observation: a
	// new item of kind (never observation) with text (empty: the item's
	// own, unquoted), authored by actor, supersedes it. EDENIED unless
	// actor is a person; ENOTFOUND, ECONFLICT as Edit.
	Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error)
	// BuildPack selects items for a task within q.BudgetBytes and returns
	// the pack with its hash set; an empty memory gives an empty pack.
	BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error)
}

// Removed is the SupersededBy value of a removed item.
const Removed = "removed"

// Limits on what an item may hold; the HTTP server's body limit sits above them.
const (
	MaxTextBytes  = 16 << 10
	MaxScopeGlobs = 64
	MaxTags       = 32
	// DefaultPackBudget is used when a MemoryQuery has no budget.
	DefaultPackBudget = 8192
	// PackVersion is the MemoryPack document version.
	PackVersion = agentos.DocVersion
)

// Query is a search.
type Query struct {
	// Text is any user text; it is split into words here (Terms), never
	// passed to a full-text query language as is.
	Text string `json:"text"`
	// Paths the task touches: items scoped to them rank higher.
	Paths []string `json:"paths,omitempty"`
	// Limit caps the hits (default 10, at most MaxLimit).
	Limit int `json:"limit,omitempty"`
}

// MaxLimit caps Query.Limit and ListFilter.Limit.
const MaxLimit = 1000

// Hit is one search result; a higher Score is better.
type Hit struct {
	Item  agentos.MemoryItem `json:"item"`
	Score float64            `json:"score"`
}

// ListFilter narrows List.
type ListFilter struct {
	Kind agentos.MemoryKind `json:"kind,omitempty"`
	Tag  string             `json:"tag,omitempty"`
	// Source keeps items whose source is this file or starts with it plus ":".
	Source string `json:"source,omitempty"`
	// All includes superseded items.
	All bool `json:"all,omitempty"`
	// Limit caps the result (default 100, at most MaxLimit).
	Limit int `json:"limit,omitempty"`
}

// ParseKind checks a kind name.
func ParseKind(s string) (agentos.MemoryKind, error) {
	switch k := agentos.MemoryKind(s); k {
	case agentos.MemoryFact, agentos.MemoryConvention, agentos.MemoryDecision, agentos.MemoryAnswer, agentos.MemoryLesson, agentos.MemoryObservation:
		return k, nil
	}
	return "", agentos.Errorf(agentos.EINVALID, "memory kind %q: use one of fact, convention, decision, answer, lesson, observation", s)
}

// MaxObservationConfidence caps an observation's confidence: nobody
// vouched for it, so it never weighs as much as what a person said.
const MaxObservationConfidence = 0.5

// Trusted reports whether author may state facts, conventions, decisions,
// answers and lessons: a person, or AgentOS itself. Anyone else (an agent,
// a model, command output, a memory-service client that is not a person)
// is kept as an observation.
func Trusted(author string) bool {
	a := agentos.Actor(author)
	return a.IsHuman() || a == agentos.System
}

// Quote renders untrusted text as an observation: a header saying where it
// came from, then each line of it behind "> ", so it reads as a quotation
// and never as an instruction or a statement of AgentOS.
func Quote(from, text string) string {
	var b strings.Builder
	b.WriteString("Observed (unverified) in ")
	b.WriteString(strings.TrimSpace(from))
	b.WriteString(":")
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		b.WriteString("\n> ")
		b.WriteString(strings.TrimRight(line, " \t\r"))
	}
	return b.String()
}

// unquote returns the quoted text of an observation made by Quote, or text
// as it is when it is not one.
func unquote(text string) string {
	head, body, ok := strings.Cut(text, "\n")
	if !ok || !strings.HasPrefix(head, "Observed (unverified) in ") {
		return text
	}
	var lines []string
	for line := range strings.SplitSeq(body, "\n") {
		l, ok := strings.CutPrefix(line, "> ")
		if !ok {
			l = strings.TrimPrefix(line, ">")
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// normalize checks an item for Add and cleans its scope and tags in place.
func normalize(it *agentos.MemoryItem) error {
	if _, err := ParseKind(string(it.Kind)); err != nil {
		return err
	}
	it.Text = strings.TrimSpace(it.Text)
	if it.Text == "" {
		return agentos.Errorf(agentos.EINVALID, "memory item text is empty: give the fact, convention or lesson to remember")
	}
	if len(it.Text) > MaxTextBytes {
		return agentos.Errorf(agentos.EINVALID, "memory item text is %d bytes, more than %d: split it into smaller items", len(it.Text), MaxTextBytes)
	}
	if !utf8.ValidString(it.Text) {
		return agentos.Errorf(agentos.EINVALID, "memory item text is not valid UTF-8")
	}
	if math.IsNaN(it.Confidence) || it.Confidence < 0 || it.Confidence > 1 {
		return agentos.Errorf(agentos.EINVALID, "memory item confidence %v: must be between 0 and 1", it.Confidence)
	}
	if len(it.Scope) > MaxScopeGlobs || len(it.Tags) > MaxTags {
		return agentos.Errorf(agentos.EINVALID, "memory item has too many scope globs or tags (at most %d and %d)", MaxScopeGlobs, MaxTags)
	}
	scope := make([]string, 0, len(it.Scope))
	for _, g := range it.Scope {
		c, err := cleanGlob(g)
		if err != nil {
			return err
		}
		if c != "" && !contains(scope, c) {
			scope = append(scope, c)
		}
	}
	it.Scope = scope
	tags := make([]string, 0, len(it.Tags))
	for _, t := range it.Tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 || !utf8.ValidString(t) {
			return agentos.Errorf(agentos.EINVALID, "memory tag %q: must be 1 to 64 bytes of text", t)
		}
		if !contains(tags, t) {
			tags = append(tags, t)
		}
	}
	it.Tags = tags
	if len(it.Source) > 1024 || len(it.Author) > 256 {
		return agentos.Errorf(agentos.EINVALID, "memory item source or author is too long")
	}
	return nil
}

// cleanGlob normalises a scope glob: slash-separated, relative, no "..".
func cleanGlob(g string) (string, error) {
	g = strings.TrimSpace(g)
	if g == "" || g == "." || g == "./" || g == "**" {
		return "", nil // the whole repository, as an empty scope
	}
	g = strings.TrimPrefix(g, "./")
	g = strings.TrimSuffix(g, "/")
	if strings.HasPrefix(g, "/") || strings.Contains(g, "\\") {
		return "", agentos.Errorf(agentos.EINVALID, "scope %q: use a path relative to the repository root with / separators", g)
	}
	for seg := range strings.SplitSeq(g, "/") {
		if seg == ".." || seg == "" {
			return "", agentos.Errorf(agentos.EINVALID, "scope %q: empty or .. segments are not allowed", g)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return "", agentos.Errorf(agentos.EINVALID, "scope %q: bad glob: %v", g, err)
		}
	}
	return g, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns prefix plus 16 characters: 45 bits of Unix milliseconds,
// then 35 random bits. Time first keeps the id index append-mostly (random
// ids make a bulk load of a million items thrash the B-tree) and lists sort
// by age; 35 random bits per millisecond keep collisions negligible.
func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[5:]); err != nil {
		panic(fmt.Sprintf("memory: crypto/rand: %v", err))
	}
	ms := uint64(time.Now().UnixMilli()) & (1<<45 - 1)
	// 45 time bits, then the low 35 of the 40 random bits.
	v := ms<<19 | uint64(b[5])<<11 | uint64(b[6])<<3 | uint64(b[7])>>5
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

func clampLimit(n, def int) int {
	if n <= 0 {
		return def
	}
	return min(n, MaxLimit)
}
