package web

import (
	"strconv"
	"strings"
)

// diffView is a unified diff parsed for both renderings: the unified lines
// as git prints them, and rows pairing old and new lines side by side.
type diffView struct {
	Files []diffFile
}

type diffFile struct {
	Name  string
	Lines []diffLine // unified
	Rows  []diffRow  // side by side
}

// diffLine is one unified line; Op is "add", "del", "ctx" or "hunk".
type diffLine struct {
	Op, Text string
	Old, New string // line numbers, "" where none
}

// diffRow pairs an old and a new line; a side with no line is empty.
type diffRow struct {
	Hunk             string
	OldN, Old, OldOp string
	NewN, New, NewOp string
}

// parseDiff reads git's unified diff. Anything it does not understand is
// kept as a context line: the page shows what was approved, never less.
func parseDiff(d string) *diffView {
	v := &diffView{}
	var f *diffFile
	oldN, newN := 0, 0
	var dels, adds []diffLine
	flush := func() {
		if f == nil {
			return
		}
		for i := 0; i < max(len(dels), len(adds)); i++ {
			var row diffRow
			if i < len(dels) {
				row.OldN, row.Old, row.OldOp = dels[i].Old, dels[i].Text, "del"
			}
			if i < len(adds) {
				row.NewN, row.New, row.NewOp = adds[i].New, adds[i].Text, "add"
			}
			f.Rows = append(f.Rows, row)
		}
		dels, adds = nil, nil
	}
	newFile := func(name string) {
		flush()
		v.Files = append(v.Files, diffFile{Name: name})
		f = &v.Files[len(v.Files)-1]
	}
	for _, ln := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
		switch {
		case strings.HasPrefix(ln, "diff --git "):
			newFile(strings.TrimPrefix(strings.Fields(ln)[len(strings.Fields(ln))-1], "b/"))
		case strings.HasPrefix(ln, "+++ "), strings.HasPrefix(ln, "--- "), strings.HasPrefix(ln, "index "),
			strings.HasPrefix(ln, "new file mode"), strings.HasPrefix(ln, "deleted file mode"):
			if f == nil {
				newFile(strings.TrimPrefix(strings.TrimPrefix(ln[4:], "a/"), "b/"))
			}
			if strings.HasPrefix(ln, "+++ ") && ln[4:] != "/dev/null" {
				f.Name = strings.TrimPrefix(ln[4:], "b/")
			}
		case strings.HasPrefix(ln, "@@"):
			if f == nil {
				newFile("")
			}
			flush()
			oldN, newN = hunkStart(ln)
			f.Lines = append(f.Lines, diffLine{Op: "hunk", Text: ln})
			f.Rows = append(f.Rows, diffRow{Hunk: ln})
		default:
			if f == nil {
				newFile("")
			}
			op, text := "ctx", ln
			if ln != "" {
				text = ln[1:]
				switch ln[0] {
				case '+':
					op = "add"
				case '-':
					op = "del"
				case '\\':
					op, text = "ctx", ln
				}
			}
			l := diffLine{Op: op, Text: text}
			switch op {
			case "add":
				newN++
				l.New = strconv.Itoa(newN)
				adds = append(adds, l)
			case "del":
				oldN++
				l.Old = strconv.Itoa(oldN)
				dels = append(dels, l)
			default:
				flush()
				oldN++
				newN++
				l.Old, l.New = strconv.Itoa(oldN), strconv.Itoa(newN)
				f.Rows = append(f.Rows, diffRow{OldN: l.Old, Old: text, OldOp: "ctx", NewN: l.New, New: text, NewOp: "ctx"})
			}
			f.Lines = append(f.Lines, l)
		}
	}
	flush()
	return v
}

// hunkStart reads "@@ -a,b +c,d @@" and returns the line before a and c.
func hunkStart(h string) (int, int) {
	var o, n int
	for _, part := range strings.Fields(h) {
		num := func(p string) int {
			x, _ := strconv.Atoi(strings.SplitN(p[1:], ",", 2)[0])
			return max(x-1, 0)
		}
		switch {
		case strings.HasPrefix(part, "-") && len(part) > 1:
			o = num(part)
		case strings.HasPrefix(part, "+") && len(part) > 1:
			n = num(part)
		}
	}
	return o, n
}

// newFileDiff shows a write step's content as the diff that adds it.
func newFileDiff(path, content string) *diffView {
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	var b strings.Builder
	b.WriteString("@@ -0,0 +1," + strconv.Itoa(len(lines)) + " @@ " + path + "\n")
	for _, l := range lines {
		b.WriteString("+" + l + "\n")
	}
	v := parseDiff(b.String())
	if len(v.Files) > 0 {
		v.Files[0].Name = path
	}
	return v
}
