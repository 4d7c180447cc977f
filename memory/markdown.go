package memory

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/agentos/agentos"
)

// Chunk is one piece of a markdown file worth remembering.
type Chunk struct {
	// Text is the chunk, prefixed with its nearest heading ("Testing: …") so
	// that a search for the section's subject finds it.
	Text string
	// Line is where the chunk starts (1-based).
	Line int
}

// Source returns "file:line" for a chunk of file.
func (c Chunk) Source(file string) string { return fmt.Sprintf("%s:%d", file, c.Line) }

var (
	headingRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`) })
	bulletRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^( *)([-*+]|\d{1,9}[.)])\s+(.*)$`) })
	fenceRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("^ {0,3}(```|~~~)") })
)

// SplitMarkdown splits an instructions file (AGENTS.md, CLAUDE.md,
// CONTRIBUTING.md) into chunks: each top-level bullet with its nested bullets
// and continuation lines, and each paragraph outside lists. Headings are not
// chunks; they prefix the chunks under them. Fenced code stays with the chunk
// it follows, and HTML comments and front matter are dropped.
func SplitMarkdown(data []byte) []Chunk {
	var (
		out      []Chunk
		heading  string
		cur      []string
		curLine  int
		inBullet bool
		inFence  bool
		inHTML   bool
	)
	flush := func() {
		text := strings.TrimSpace(strings.Join(cur, "\n"))
		if text != "" {
			if heading != "" {
				text = heading + ": " + text
			}
			out = append(out, Chunk{Text: text, Line: curLine})
		}
		cur, inBullet = nil, false
	}
	start := func(line int, text string) {
		flush()
		cur, curLine = []string{text}, line
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	i := 0
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "---" { // YAML front matter
		for j := 1; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "---" {
				i = j + 1
				break
			}
		}
	}
	for ; i < len(lines); i++ {
		line, n := lines[i], i+1
		trimmed := strings.TrimSpace(line)
		switch {
		case inFence:
			cur = append(cur, line)
			if fenceRe().MatchString(line) {
				inFence = false
			}
		case inHTML:
			inHTML = !strings.Contains(line, "-->")
		case strings.HasPrefix(trimmed, "<!--"):
			inHTML = !strings.Contains(trimmed, "-->")
		case fenceRe().MatchString(line):
			if cur == nil {
				curLine = n
			}
			cur = append(cur, line)
			inFence = true
		case headingRe().MatchString(line):
			flush()
			heading = headingRe().FindStringSubmatch(line)[2]
		case trimmed == "":
			if !inBullet {
				flush()
			}
		default:
			if m := bulletRe().FindStringSubmatch(line); m != nil && len(m[1]) < 2 {
				start(n, m[3])
				inBullet = true
			} else if cur == nil {
				start(n, trimmed)
			} else if inBullet && !strings.HasPrefix(line, " ") && i > 0 && strings.TrimSpace(lines[i-1]) == "" {
				start(n, trimmed) // a paragraph after a list
			} else {
				cur = append(cur, trimmed)
			}
		}
	}
	flush()
	return out
}

// Import adds the chunks of a markdown file as items of kind, with source
// "file:line". Chunks whose text a live item from the same file already holds
// are skipped, so importing a file again adds only what is new.
func Import(ctx context.Context, svc Service, file string, data []byte, kind agentos.MemoryKind, author string) (added []agentos.MemoryItem, skipped int, err error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return nil, 0, err
	}
	existing, err := svc.List(ctx, ListFilter{Source: file, Limit: MaxLimit})
	if err != nil {
		return nil, 0, err
	}
	have := map[string]bool{}
	for _, it := range existing {
		have[it.Text] = true
	}
	for _, c := range SplitMarkdown(data) {
		if len(c.Text) > MaxTextBytes {
			return added, skipped, agentos.Errorf(agentos.EINVALID, "%s: the section is %d bytes, more than %d: split it with headings or bullets", c.Source(file), len(c.Text), MaxTextBytes)
		}
		if have[c.Text] {
			skipped++
			continue
		}
		it, err := svc.Add(ctx, agentos.MemoryItem{Kind: kind, Text: c.Text, Source: c.Source(file), Author: author, Confidence: 1})
		if err != nil {
			return added, skipped, err
		}
		have[c.Text] = true
		added = append(added, it)
	}
	return added, skipped, nil
}
