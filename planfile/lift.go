package planfile

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/agentos/agentos"
	"go.yaml.in/yaml/v3"
)

// Large scalars are kept away from the YAML parser: go.yaml.in/yaml/v3
// builds a scalar by appending (holding its last two sizes at once) and
// then copies it into the node, about three times the scalar in all. A
// plan file of liftMin bytes or more is first read by a pre-pass that
// finds each scalar of liftMin bytes or more it fully understands (a
// double- or single-quoted scalar, a literal or folded block scalar, a
// plain scalar on one line), decodes it itself — a scalar whose text is
// its value (no escapes, no line folding) becomes a substring of the file,
// with no copy at all — and replaces it by a short marker of the same
// form. The parser then reads that small document, and each marker's node
// gets the lifted value back, with every position after it moved back to
// where it was in the file.
//
// The decoders below mirror the parser's scanner (scannerc.go:
// yaml_parser_scan_flow_scalar, _plain_scalar, _block_scalar) step by
// step; FuzzLift checks the result node for node (values, styles, tags,
// comments, lines and columns) against the parser's own. What the scanner
// decides from state the pre-pass does not have — whether a quote starts a
// scalar, the block indentation, flow or block context — is checked on
// the small document: its marker must come back as exactly one scalar of
// the same style, not a mapping key, with the value the same decoder gives
// for the marker. Anything unusual (another kind of line break than LF or
// CRLF, a character the reader would refuse, a document marker inside a
// quoted scalar, a byte-order mark, a marker that did not come back as
// expected) leaves the file to the parser whole, as before.

// liftMin is the size of the scalars lifted (a variable for the tests).
var liftMin = agentos.StreamMin

// region is one lifted scalar: src[start:end] in the file, marker in the
// small document, value its decoded value.
type region struct {
	hdr        int // where the scalar's token starts (a block's header)
	start, end int
	marker     string // what replaces src[start:end]
	want       string // the marker's value as the parser must give it
	value      string
	inText     bool // value is part of the file's text (not decoded, not copied)
	size       int  // in place: the value's size, decoded last (value is empty until then)
	style      yaml.Style
	flowChars  bool // a plain scalar holding , ? [ ] { }: block context only
	// Where the region ends, in lines and columns (0-based, in
	// characters) of the file and of the small document.
	endLine, endCol           int
	smallEndLine, smallEndCol int
}

// lift parses src with its large scalars lifted out; ok is false (and
// nothing was parsed) when it lifted nothing or was unsure of anything.
func lift(src string) (doc *yaml.Node, ok bool) {
	doc, ok, _, _ = liftIn(src, nil)
	return doc, ok
}

// liftIn is lift; with buf (src's own bytes) set, a block or quoted
// scalar's value is decoded into buf itself, over its text, once
// everything else about the file is known. Each byte a block decoder
// writes stands for a byte of the body already read (content as it is, a
// break for a break, the indentation dropped), so the writing never
// overtakes the reading, and it stays inside the body's lines. A quoted
// scalar is written from its opening quote on, one byte behind the reading
// at least: it is decoded in place only when no escape is longer decoded
// than written (\L and \P are three bytes from two; every other escape,
// a folded break and a doubled quote shrink or keep their size).
// wrote says whether buf was written (src no longer holds the file).
// own holds the nodes whose value lies in buf and is theirs alone (no
// anchor, so no alias shares it): fromDocIn may decode !!binary over it.
func liftIn(src string, buf []byte) (doc *yaml.Node, ok, wrote bool, own map[*yaml.Node]bool) {
	if len(src) < liftMin || strings.HasPrefix(src, "\xef\xbb\xbf") || strings.HasPrefix(src, "\xfe\xff") || strings.HasPrefix(src, "\xff\xfe") {
		return nil, false, false, nil
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	tag := "AgentosLift" + hex.EncodeToString(nonce[:]) + "x"
	if strings.Contains(src, tag) {
		return nil, false, false, nil
	}
	regions, ok := findRegions(src, tag, buf != nil)
	if !ok || len(regions) == 0 {
		return nil, false, false, nil
	}
	var small strings.Builder
	prev := 0
	for i := range regions {
		r := &regions[i]
		small.WriteString(src[prev:r.start])
		small.WriteString(r.marker)
		prev = r.end
	}
	small.WriteString(src[prev:])
	smallSrc := small.String()
	// Where each marker ends in the small document, and what the parser
	// must make of it.
	shift := 0
	for i := range regions {
		r := &regions[i]
		h, s := r.hdr+shift, r.start+shift
		shift += len(r.marker) - (r.end - r.start)
		var w scalarScan
		switch r.style {
		case 0: // plain: its text is its value
			r.want = r.marker
		case yaml.LiteralStyle, yaml.FoldedStyle:
			if !w.scan(smallSrc, h, r.style) || w.bodyStart != s || w.lastLineEnd != s+len(r.marker) {
				return nil, false, false, nil
			}
			r.want = w.value
		default:
			if !w.scan(smallSrc, h, r.style) || w.end != s+len(r.marker) {
				return nil, false, false, nil
			}
			r.want = w.value
		}
		var okPos bool
		r.smallEndLine, r.smallEndCol, okPos = endPos(smallSrc, s, s+len(r.marker))
		if !okPos {
			return nil, false, false, nil
		}
	}
	d, err := decodeDoc(strings.NewReader(smallSrc))
	if err != nil {
		return nil, false, false, nil // the parser reads the file whole and says what is wrong
	}
	found := make([]*yaml.Node, len(regions))
	byWant := make(map[string]int, len(regions))
	for i, r := range regions {
		byWant[r.want] = i
	}
	if !collect(d, false, false, byWant, regions, found) {
		return nil, false, false, nil
	}
	for _, n := range found {
		if n == nil {
			return nil, false, false, nil
		}
	}
	for i, n := range found {
		r := &regions[i]
		if r.size > 0 {
			out := sink{buf: buf[r.start:r.start]}
			switch r.style {
			case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
				quoted(src, r.hdr, r.style == yaml.SingleQuotedStyle, &out)
			default:
				var w scalarScan
				w.block(src, r.hdr, r.style == yaml.LiteralStyle, &out)
			}
			if len(out.buf) != r.size {
				// Never (the same decoder on the same bytes): the caller
				// reads the file again, as for any file not lifted.
				return nil, false, true, nil
			}
			r.value = unsafe.String(unsafe.SliceData(out.buf), len(out.buf))
			wrote = true
		}
		n.Value = r.value
		if buf != nil && (r.size > 0 || r.inText) && n.Anchor == "" {
			if own == nil {
				own = map[*yaml.Node]bool{}
			}
			own[n] = true
		}
	}
	moveBack(d, regions, map[*yaml.Node]bool{})
	return d, true, wrote, own
}

// collect finds the node of each marker; false when one is where a lifted
// scalar would be read differently (a key, a plain scalar with flow
// indicators in flow context, another style, twice).
func collect(n *yaml.Node, key, flow bool, byWant map[string]int, regions []region, found []*yaml.Node) bool {
	if n == nil {
		return true
	}
	if n.Kind == yaml.ScalarNode {
		i, ok := byWant[n.Value]
		if !ok {
			return true
		}
		r := regions[i]
		if key || found[i] != nil || n.Style&^yaml.TaggedStyle != r.style || (flow && r.flowChars) {
			return false
		}
		found[i] = n
		return true
	}
	if n.Kind == yaml.AliasNode {
		return true // its anchor is visited where it is defined
	}
	flow = flow || n.Style&yaml.FlowStyle != 0
	for i, c := range n.Content {
		if !collect(c, n.Kind == yaml.MappingNode && i%2 == 0, flow, byWant, regions, found) {
			return false
		}
	}
	return true
}

// moveBack gives every node the line and column it has in the file.
func moveBack(n *yaml.Node, regions []region, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line, n.Column = origPos(n.Line, n.Column, regions)
	for _, c := range n.Content {
		moveBack(c, regions, seen)
	}
}

// origPos maps a 1-based position of the small document to the file: the
// last region that ends at or before it decides (on its end line, the
// columns after it shift; below it, the lines).
func origPos(line, col int, regions []region) (int, int) {
	if line == 0 {
		return line, col
	}
	l, c := line-1, col-1
	for i := len(regions) - 1; i >= 0; i-- {
		r := regions[i]
		if l < r.smallEndLine || l == r.smallEndLine && c < r.smallEndCol {
			continue
		}
		if l == r.smallEndLine {
			return r.endLine + 1, c - r.smallEndCol + r.endCol + 1
		}
		return l - r.smallEndLine + r.endLine + 1, col
	}
	return line, col
}

// endPos is the line and column (0-based, in characters, as the parser
// counts them) of src[end], given that src[start:end] holds only LF and
// CRLF breaks. The line is counted from the top of src.
func endPos(src string, start, end int) (line, col int, ok bool) {
	ls := strings.LastIndexByte(src[:start], '\n') + 1
	for _, c := range src[ls:start] {
		if c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029 {
			return 0, 0, false
		}
	}
	// Lines before: counted as the parser does (any break it knows).
	line = countBreaks(src[:ls])
	if line < 0 {
		return 0, 0, false
	}
	seg := src[ls:end]
	if k := strings.LastIndexByte(seg, '\n'); k >= 0 {
		line += strings.Count(seg, "\n")
		seg = seg[k+1:]
	}
	return line, utf8.RuneCountInString(seg), true
}

// countBreaks counts line breaks as the parser does; -1 if src holds one
// other than LF or CRLF (the pre-pass does not count those).
func countBreaks(s string) int {
	if strings.ContainsAny(s, "\r\u0085\u2028\u2029") {
		// CRLF is one break; anything else is left to the parser.
		if strings.ContainsAny(s, "\u0085\u2028\u2029") || strings.Count(s, "\r") != strings.Count(s, "\r\n") {
			return -1
		}
	}
	return strings.Count(s, "\n")
}

// findRegions finds the large scalars of src, in order.
func findRegions(src, tag string, inPlace bool) ([]region, bool) {
	var out []region
	lineStart := true
	for i := 0; i < len(src); {
		c := src[i]
		if lineStart {
			lineStart = false
			if r, ok := plainCandidate(src, i); ok {
				r.marker = tag + itoa(len(out))
				var okPos bool
				if r.endLine, r.endCol, okPos = endPos(src, r.start, r.end); !okPos {
					return nil, false
				}
				out = append(out, r)
				i = r.end
				continue
			}
		}
		switch {
		case c == '\n':
			lineStart = true
			i++
		case c == '#' && (i == 0 || src[i-1] == ' ' || src[i-1] == '\t' || src[i-1] == '\n'):
			// A comment: its quotes start nothing.
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				return out, true
			}
			i += j
		case (c == '"' || c == '\'' || c == '|' || c == '>') && tokenStart(src, i):
			style := yaml.DoubleQuotedStyle
			switch c {
			case '\'':
				style = yaml.SingleQuotedStyle
			case '|':
				style = yaml.LiteralStyle
			case '>':
				style = yaml.FoldedStyle
			}
			w := scalarScan{countOnly: inPlace}
			if !w.scan(src, i, style) {
				i = max(i+1, w.end)
				continue
			}
			if w.end-i >= liftMin {
				r, ok := w.region(src, i, tag, len(out))
				if !ok {
					return nil, false
				}
				out = append(out, r)
			}
			i = max(i+1, w.end)
		default:
			i++
		}
	}
	return out, true
}

// plainCandidate looks for a long plain scalar at the line starting at ls:
// after the line's indentation and any "- " items, the value after the
// first ": ". ok false: no candidate here (the caller scans on from ls).
func plainCandidate(src string, ls int) (region, bool) {
	le := strings.IndexByte(src[ls:], '\n')
	if le < 0 {
		le = len(src)
	} else {
		le += ls
	}
	if le-ls < liftMin {
		return region{}, false
	}
	line := src[ls:le]
	k := strings.Index(line, ": ")
	if k < 0 {
		return region{}, false
	}
	s := k + 2
	for s < len(line) && line[s] == ' ' {
		s++
	}
	if s >= len(line) || !plainFirst(line[s]) {
		return region{}, false
	}
	// The plain scalar's end on this line (the parser's rules for block
	// context): before ": " or a ':' at the end, before " #", without
	// trailing blanks.
	e, flowChars := s, false
	for j := s; j < len(line); {
		c := line[j]
		if c == ':' && (j+1 == len(line) || line[j+1] == ' ' || line[j+1] == '\t' || line[j+1] == '\r') {
			break
		}
		if c == '#' && (line[j-1] == ' ' || line[j-1] == '\t') {
			break
		}
		if c == '\r' && j+1 == len(line) {
			break // CRLF
		}
		w, ok := char(line, j)
		if !ok {
			return region{}, false
		}
		switch c {
		case ',', '?', '[', ']', '{', '}':
			flowChars = true
		}
		j += w
		if c != ' ' && c != '\t' {
			e = j
		}
	}
	if e-s < liftMin {
		return region{}, false
	}
	return region{hdr: ls + s, start: ls + s, end: ls + e, value: line[s:e], inText: true, style: 0, flowChars: flowChars}, true
}

// tokenStart: a quote or block indicator at s[i] may start a scalar (it
// follows a blank, a line start or a flow indicator); inside a word it
// cannot. Only a guess: the small document proves it.
func tokenStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	switch s[i-1] {
	case ' ', '\t', '\n', '[', '{', ',':
		return true
	}
	return false
}

// plainFirst: a plain scalar starting with c resolves to a string however
// long it is (no number, boolean, null or timestamp starts this way) and
// does not start with an indicator.
func plainFirst(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '/' || c == '$' || c == '(' || c == '\\' || c == ';' || c == '=' || c == '^'
}

// char is the width of the character at s[i], ok when the YAML reader
// accepts it and it is not a line break (LF and CR are the caller's).
func char(s string, i int) (int, bool) {
	c := s[i]
	if c < utf8.RuneSelf {
		return 1, c == '\t' || c >= 0x20 && c <= 0x7e
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && w <= 1:
		return w, false
	case r == 0x2028 || r == 0x2029 || r == 0xfeff:
		return w, false
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return w, true
	}
	return w, false
}

// region turns a scan of a large scalar into what the small document holds
// in its place: the same form around the marker.
func (w *scalarScan) region(src string, start int, tag string, n int) (region, bool) {
	m := tag + itoa(n)
	r := region{hdr: start, start: start, end: w.end, style: w.style, value: w.value, inText: w.inText}
	if w.deferred {
		r.size = w.size // decoded in place once the file is known (liftIn)
	}
	switch w.style {
	case yaml.DoubleQuotedStyle:
		r.marker = `"` + m + `"`
	case yaml.SingleQuotedStyle:
		r.marker = `'` + m + `'`
	default:
		// The header stays; the lines up to the last content line become
		// one line at the block's indentation (empty lines after it stay:
		// they are the block's, and comments read them).
		r.start = w.bodyStart
		r.end = w.lastLineEnd
		last := strings.TrimRight(src[r.start:r.end], "\r\n")
		if strings.TrimLeft(last[strings.LastIndexByte(last, '\n')+1:], " \t") == "" {
			// The last content line is only blanks: the parser counts the
			// breaks since the last other character, and a comment after
			// the block would be placed by that count (one for the marker).
			return r, false
		}
		r.marker = strings.Repeat(" ", w.indent) + m + "\n"
		if r.end == len(src) && src[r.end-1] != '\n' {
			// The file ends on the last content line: so does the small
			// document, or the parser's forced break at the stream's end
			// (where an empty node after the block is placed) would fall
			// a line apart in the two.
			r.marker = r.marker[:len(r.marker)-1]
		}
	}
	var ok bool
	r.endLine, r.endCol, ok = endPos(src, r.start, r.end)
	return r, ok
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// plainScalar (style 0 in a region) is lifted by plainCandidate; the
// scanner below reads the quoted and block forms.

// scalarScan decodes one quoted or block scalar as the parser's scanner
// does. ok false: the scanner would fail or do something the pre-pass does
// not follow; end is then how far it got.
type scalarScan struct {
	style       yaml.Style
	end         int
	value       string
	bodyStart   int  // block: the first line after the header
	lastLineEnd int  // block: after the last content line's break
	indent      int  // block: the content's indentation
	countOnly   bool // only count the value, to decode it in place later
	deferred    bool // countOnly took: value is empty, size its size
	size        int
	inText      bool // value is the text between the quotes
}

func (w *scalarScan) scan(src string, i int, style yaml.Style) bool {
	w.style = style
	// Decoded twice: once to size it (and to see whether it is the text
	// itself), once into a buffer of that size.
	var count sink
	var ok, ident bool
	switch style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		w.end, ident, ok = quoted(src, i, style == yaml.SingleQuotedStyle, &count)
	case yaml.LiteralStyle, yaml.FoldedStyle:
		ok = w.block(src, i, style == yaml.LiteralStyle, &count)
	}
	if !ok {
		return false
	}
	if ident {
		w.value, w.inText = src[i+1:w.end-1], true
		return true
	}
	// In place, a block's value must fit in the body's lines and leave
	// their last break as it is; a quoted one must have no escape longer
	// decoded than written (\L, \P), so that each step writes no more than
	// it read and the writing, which starts at the opening quote, stays
	// behind the reading. Else it is copied as usual.
	switch {
	case !w.countOnly || count.n == 0:
	case style == yaml.LiteralStyle || style == yaml.FoldedStyle:
		if count.n < w.lastLineEnd-w.bodyStart {
			w.size, w.deferred = count.n, true
			return true
		}
	case !count.grew:
		w.size, w.deferred = count.n, true
		return true
	}
	out := sink{b: &strings.Builder{}}
	out.b.Grow(count.n)
	switch style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		quoted(src, i, style == yaml.SingleQuotedStyle, &out)
	default:
		w.block(src, i, style == yaml.LiteralStyle, &out)
	}
	w.value = out.b.String()
	return true
}

// sink counts what a decoder writes, and keeps it when b is set.
type sink struct {
	b    *strings.Builder
	n    int
	buf  []byte // in place: appended to within its capacity (the text's own bytes)
	grew bool   // an escape was longer decoded than written
}

func (s *sink) str(x string) {
	s.n += len(x)
	if s.b != nil {
		s.b.WriteString(x)
	}
	if s.buf != nil {
		s.buf = append(s.buf, x...) // copy handles the overlap: x lies at or after the end
	}
}

// breaks writes n line feeds.
func (s *sink) breaks(n int) {
	for range n {
		s.char('\n')
	}
}

func (s *sink) char(c byte) {
	s.n++
	if s.b != nil {
		s.b.WriteByte(c)
	}
	if s.buf != nil {
		s.buf = append(s.buf, c)
	}
}

// lineBreak is the width of the LF or CRLF at s[i]; 0 if there is none;
// -1 for a break the pre-pass leaves to the parser (CR alone, NEL, LS, PS).
func lineBreak(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	switch {
	case s[i] == '\n':
		return 1
	case s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n':
		return 2
	case s[i] == '\r', strings.HasPrefix(s[i:], "\u0085"), strings.HasPrefix(s[i:], "\u2028"), strings.HasPrefix(s[i:], "\u2029"):
		return -1
	}
	return 0
}

func blank(s string, i int) bool { return i < len(s) && (s[i] == ' ' || s[i] == '\t') }

// atLineStart: s[i] is the first character of a line.
func atLineStart(s string, i int) bool { return i == 0 || s[i-1] == '\n' }

// docIndicator: "---" or "..." then a blank, a break or the end.
func docIndicator(s string, i int) bool {
	if !strings.HasPrefix(s[i:], "---") && !strings.HasPrefix(s[i:], "...") {
		return false
	}
	return i+3 == len(s) || blank(s, i+3) || lineBreak(s, i+3) != 0
}

// quoted mirrors yaml_parser_scan_flow_scalar from the opening quote at
// s[i]: end is after the closing quote; ident is true when the value is
// the text between the quotes as it stands.
func quoted(s string, i int, single bool, out *sink) (end int, ident, ok bool) {
	i++
	ident = true
	// The scanner's leading break, trailing breaks and whitespace, as a
	// flag, a count and a span of s (appending to strings would cost the
	// square of a long run of blanks).
	leadingBreak, trailingBreaks, wsStart, wsEnd := false, 0, 0, 0
	for {
		if atLineStart(s, i) && docIndicator(s, i) {
			return i, false, false
		}
		if i >= len(s) {
			return i, false, false
		}
		leadingBlanks := false
		for i < len(s) && !blank(s, i) && lineBreak(s, i) == 0 {
			c := s[i]
			switch {
			case single && c == '\'' && i+1 < len(s) && s[i+1] == '\'':
				out.char('\'')
				i += 2
				ident = false
				continue
			case single && c == '\'', !single && c == '"':
			case !single && c == '\\' && lineBreak(s, i+1) != 0:
				n := lineBreak(s, i+1)
				if n < 0 {
					return i, false, false
				}
				i += 1 + n
				leadingBlanks = true
				ident = false
			case !single && c == '\\':
				before := out.n
				n, ok := escape(s, i, out)
				if !ok {
					return i, false, false
				}
				if out.n-before > n {
					out.grew = true
				}
				i += n
				ident = false
				continue
			default:
				w, ok := char(s, i)
				if !ok {
					return i, false, false
				}
				out.str(s[i : i+w])
				i += w
				continue
			}
			break
		}
		if i < len(s) && lineBreak(s, i) < 0 {
			return i, false, false
		}
		if i < len(s) && (single && s[i] == '\'' || !single && s[i] == '"') {
			break
		}
		for blank(s, i) || lineBreak(s, i) > 0 {
			if blank(s, i) {
				if !leadingBlanks {
					if wsEnd != i {
						wsStart = i
					}
					wsEnd = i + 1
				}
				i++
			} else {
				n := lineBreak(s, i)
				if !leadingBlanks {
					wsStart, wsEnd = 0, 0
					leadingBreak = true
					leadingBlanks = true
				} else {
					trailingBreaks++
				}
				i += n
				ident = false
			}
		}
		if lineBreak(s, i) < 0 {
			return i, false, false
		}
		if leadingBlanks {
			if leadingBreak && trailingBreaks == 0 {
				out.char(' ')
			} else {
				out.breaks(trailingBreaks)
			}
			leadingBreak, trailingBreaks = false, 0
		} else {
			out.str(s[wsStart:wsEnd])
			wsStart, wsEnd = 0, 0
		}
	}
	return i + 1, ident, true
}

// escape decodes the escape sequence at s[i] (a backslash) as the scanner
// does; n is its length.
func escape(s string, i int, out *sink) (n int, ok bool) {
	if i+1 >= len(s) {
		return 0, false
	}
	code := 0
	switch s[i+1] {
	case '0':
		out.char(0)
	case 'a':
		out.char('\a')
	case 'b':
		out.char('\b')
	case 't', '\t':
		out.char('\t')
	case 'n':
		out.char('\n')
	case 'v':
		out.char('\v')
	case 'f':
		out.char('\f')
	case 'r':
		out.char('\r')
	case 'e':
		out.char(0x1b)
	case ' ':
		out.char(' ')
	case '"':
		out.char('"')
	case '\'':
		out.char('\'')
	case '\\':
		out.char('\\')
	case 'N':
		out.str("\u0085")
	case '_':
		out.str("\u00a0")
	case 'L':
		out.str("\u2028")
	case 'P':
		out.str("\u2029")
	case 'x':
		code = 2
	case 'u':
		code = 4
	case 'U':
		code = 8
	default:
		return 0, false
	}
	if code == 0 {
		return 2, true
	}
	if i+2+code > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i+2 : i+2+code]) {
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		v = v<<4 + d
	}
	if v >= 0xd800 && v <= 0xdfff || v > 0x10ffff {
		return 0, false
	}
	// The scanner writes the code point's UTF-8 bytes itself.
	var b [4]byte
	switch {
	case v <= 0x7f:
		out.char(byte(v))
	case v <= 0x7ff:
		b[0], b[1] = byte(0xc0+(v>>6)), byte(0x80+(v&0x3f))
		out.str(string(b[:2]))
	case v <= 0xffff:
		b[0], b[1], b[2] = byte(0xe0+(v>>12)), byte(0x80+((v>>6)&0x3f)), byte(0x80+(v&0x3f))
		out.str(string(b[:3]))
	default:
		b[0], b[1], b[2], b[3] = byte(0xf0+(v>>18)), byte(0x80+((v>>12)&0x3f)), byte(0x80+((v>>6)&0x3f)), byte(0x80+(v&0x3f))
		out.str(string(b[:4]))
	}
	return 2 + code, true
}

// block mirrors yaml_parser_scan_block_scalar from the indicator at s[i].
// The indentation it cannot know (the parser's current indent) is taken
// as the header line's (past "- " items) for an explicit indentation
// indicator, and as the content's own otherwise; the small document
// proves the guess.
func (w *scalarScan) block(s string, i int, literal bool, out *sink) bool {
	hdr := i
	i++
	chomping, increment := 0, 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		chomping = map[byte]int{'+': 1, '-': -1}[s[i]]
		i++
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if s[i] == '0' {
				return false
			}
			increment = int(s[i] - '0')
			i++
		}
	} else if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if s[i] == '0' {
			return false
		}
		increment = int(s[i] - '0')
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			chomping = map[byte]int{'+': 1, '-': -1}[s[i]]
			i++
		}
	}
	for blank(s, i) {
		i++
	}
	if i < len(s) && s[i] == '#' {
		if i == hdr+1 || !blank(s, i-1) {
			return false // the scanner reads a comment only after a blank
		}
		for i < len(s) && lineBreak(s, i) == 0 {
			i++
		}
	}
	n := lineBreak(s, i)
	if n <= 0 {
		w.end = i
		return false
	}
	i += n
	w.bodyStart = i
	indent := 0
	if increment > 0 {
		ls := strings.LastIndexByte(s[:hdr], '\n') + 1
		base := ls
		for base < hdr && (s[base] == ' ' || s[base] == '-' && base+1 < hdr && s[base+1] == ' ') {
			base++
		}
		indent = base - ls + increment
	}
	// breaks eats indentation and empty lines (scan_block_scalar_breaks).
	trailing := 0 // empty lines' breaks not yet written
	breaks := func() bool {
		maxIndent := 0
		for {
			col := 0
			ls := i
			for (indent == 0 || col < indent) && i < len(s) && s[i] == ' ' {
				i++
				col++
			}
			_ = ls
			maxIndent = max(maxIndent, col)
			if (indent == 0 || col < indent) && i < len(s) && s[i] == '\t' {
				return false
			}
			n := lineBreak(s, i)
			if n < 0 {
				return false
			}
			if n == 0 {
				break
			}
			trailing++
			i += n
		}
		if indent == 0 {
			indent = max(maxIndent, 1)
		}
		return true
	}
	if !breaks() {
		w.end = i
		return false
	}
	w.indent = indent
	leadingBreak := false
	leadingBlank, trailingBlank := false, false
	lines := 0
	for i < len(s) && i-strings.LastIndexByte(s[:i], '\n')-1 == indent {
		lines++
		trailingBlank = blank(s, i)
		if !literal && !leadingBlank && !trailingBlank && leadingBreak {
			if trailing == 0 {
				out.char(' ')
			}
		} else if leadingBreak {
			out.char('\n')
		}
		leadingBreak = false
		out.breaks(trailing)
		trailing = 0
		leadingBlank = blank(s, i)
		ls := i
		for i < len(s) && lineBreak(s, i) == 0 {
			c, ok := char(s, i)
			if !ok {
				w.end = i
				return false
			}
			i += c
		}
		out.str(s[ls:i])
		n := lineBreak(s, i)
		if n < 0 {
			w.end = i
			return false
		}
		if n > 0 {
			leadingBreak = true
			i += n
		}
		w.lastLineEnd = i
		if !breaks() {
			w.end = i
			return false
		}
	}
	if lines == 0 {
		w.end = i
		return false
	}
	if chomping != -1 && leadingBreak {
		out.char('\n')
	}
	if chomping == 1 {
		out.breaks(trailing)
	}
	w.end = i
	return true
}
