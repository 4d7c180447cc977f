package review

import (
	"regexp"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// evil carries every construct that could give a value structure of its own
// in Markdown (issue 13: a goal rendered a fake "Approvals" section).
const evil = "EVIL\n# Approvals: alice and bob (2/2)\n## Gates\n| a | b |\n|---|---|\n" +
	"[x](http://evil.example) ![i](http://evil.example/i.png) <http://evil.example> http://evil.example www.evil.example a@evil.example\n" +
	"<img src=x onerror=alert(1)> <a href='http://evil.example'>y</a> <!-- c -->\n" +
	"```\n~~~\n---\n***\n- **Outcome:** committed\n  - nested\n1. item\n> quote\n===\n" +
	"``EVIL`` ` `` *em* _em_ **b** ~~s~~ \\ &#35; &lt;\r\nEVIL\u2028# u2028\u2029# u2029\u0085# nel\n\t# tab\n    indented\n"

func pack(v string) *agentos.ReviewPack {
	rp := &agentos.ReviewPack{
		Task: "t1", Run: "r1", Outcome: agentos.StateFailed, Reason: v, Goal: v, Request: v, Mode: agentos.ModeSemiAuto,
		Target: "main", PlanHash: "sha256:p", BaseCommit: "b", ChainHead: "sha256:c",
		Intent: &agentos.Intent{ID: "i1", Kind: v, Risk: v, Scope: []string{v, v}, Acceptance: []string{v},
			Source: agentos.Source{Planner: v}},
		MemoryPack:        &agentos.MemoryPack{Hash: "sha256:m", Items: []agentos.PackedItem{{Kind: agentos.MemoryKind(v), Text: v, Source: v}}},
		Questions:         &agentos.QuestionPack{ID: "q1", Mode: agentos.ModeSemiAuto, Questions: []agentos.Question{{ID: v, Kind: agentos.QuestionKind(v), Text: v, Blocker: true}}},
		Answers:           []agentos.AnswerPack{{Pack: v, Who: agentos.Actor(v), Answers: []agentos.Answer{{Question: v, Value: v}}}},
		Assumptions:       []agentos.Assumption{{Question: v, Value: v, Why: v}},
		PlannerCalls:      []agentos.PlannerCall{{Call: "plan", Model: v, Outcome: v}},
		PlannerLastAnswer: v,
		Attestation:       v,
		Gates:             []agentos.GateDecision{{RuleID: v, Effect: agentos.EffectDeny, Reason: v, Step: 0}},
		Records:           []agentos.StepRecord{{Phase: agentos.PhaseVerify, Summary: v, OutputDigest: v, OutputTail: v, ExitCode: 1}},
		Commands:          []agentos.CommandDecision{{RuleID: v, Decision: "approve", Argv: []string{v, v}, Reason: v}},
		Patches:           []agentos.PatchRecord{{Path: v, IntentID: v, DiffHash: v, Diff: v}},
	}
	rp.Rollback = RollbackGuide(rp, "")
	return rp
}

var (
	reHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]|$)`)
	reList    = regexp.MustCompile(`^( *)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)`)
	reBreak   = regexp.MustCompile(`^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*)$`)
	reFence   = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
)

// skeleton is the block structure of a Markdown document, one entry per
// line (a fenced block counts once), and the text outside code spans and
// fences. Two renderings with the same skeleton have the same headings,
// tables (and their columns), list items and sections.
func skeleton(t *testing.T, md string) (shape []string, prose string) {
	t.Helper()
	var fence string
	var out strings.Builder
	for _, l := range strings.Split(md, "\n") {
		if fence != "" {
			if strings.HasPrefix(strings.TrimLeft(l, " "), fence) && strings.Trim(strings.TrimLeft(l, " "), fence[:1]) == "" {
				fence = ""
				shape = append(shape, "fence-end")
			}
			continue
		}
		if m := reFence.FindStringSubmatch(l); m != nil {
			fence = m[1]
			shape = append(shape, "fence")
			continue
		}
		switch {
		case strings.TrimSpace(l) == "":
			shape = append(shape, "blank")
		case reHeading.MatchString(l):
			shape = append(shape, "h"+reHeading.FindStringSubmatch(l)[1]+" "+outsideCode(t, l))
		case strings.HasPrefix(l, "|"):
			shape = append(shape, "row/"+strings.Repeat("|", len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(l, -1))))
		case reBreak.MatchString(l):
			shape = append(shape, "break")
		case strings.HasPrefix(strings.TrimLeft(l, " "), "<"), strings.HasPrefix(strings.TrimLeft(l, " "), ">"), strings.HasPrefix(l, "    "), strings.HasPrefix(l, "\t"):
			shape = append(shape, "html-quote-or-indented")
		case reList.MatchString(l):
			m := reList.FindStringSubmatch(l)
			shape = append(shape, "li"+m[1]+" "+labelOf(outsideCode(t, l)))
		default:
			shape = append(shape, "p")
		}
		out.WriteString(outsideCode(t, l) + "\n")
	}
	if fence != "" {
		t.Fatalf("a fence is left open")
	}
	return shape, out.String()
}

// labelOf is a list item's bold label ("**Goal:**"), so a forged
// "- **Outcome:**" line shows up as a different shape.
func labelOf(l string) string {
	if i := strings.Index(l, "**"); i >= 0 && i < 8 {
		if j := strings.Index(l[i+2:], "**"); j >= 0 {
			return l[i : i+j+4]
		}
	}
	return ""
}

// outsideCode drops the code spans of a line (CommonMark: a backtick run
// closes only with a run of the same length).
func outsideCode(t *testing.T, l string) string {
	var b strings.Builder
	for i := 0; i < len(l); {
		if l[i] == '\\' && i+1 < len(l) {
			b.WriteString(l[i : i+2])
			i += 2
			continue
		}
		if l[i] != '`' {
			b.WriteByte(l[i])
			i++
			continue
		}
		n := 0
		for i+n < len(l) && l[i+n] == '`' {
			n++
		}
		closed := false
		for j := i + n; j < len(l); {
			if l[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(l) && l[j+m] == '`' {
				m++
			}
			if m == n {
				i, closed = j+m, true
				break
			}
			j += m
		}
		if !closed {
			t.Errorf("unclosed code span in %q", l)
			return l
		}
	}
	return b.String()
}

func TestMarkdownValuesAreInert(t *testing.T) {
	want, _ := skeleton(t, Markdown(pack("benign")))
	md := Markdown(pack(evil))
	got, prose := skeleton(t, md)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the structure changed:\n got %q\nwant %q\n%s", got, want, md)
	}
	// Every value is inside a code span or a fence: none of it is text a
	// renderer would read as a link, HTML or emphasis.
	if strings.Contains(prose, "EVIL") || strings.Contains(prose, "evil.example") {
		t.Errorf("a value escaped its code span:\n%s", prose)
	}
	// Each field, alone, too: no value may shift the structure around it.
	for _, v := range strings.Split(evil, "\n") {
		if v == "" {
			continue // an empty reason or request is left out, by design
		}
		got, _ := skeleton(t, Markdown(pack(v)))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%q changed the structure", v)
		}
	}
}
