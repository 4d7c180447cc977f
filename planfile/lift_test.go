package planfile

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"go.yaml.in/yaml/v3"
)

// withLiftMin lifts scalars from n bytes for the rest of the test.
func withLiftMin(t testing.TB, n int) {
	old := liftMin
	liftMin = n
	t.Cleanup(func() { liftMin = old })
}

// sameNodes reports the first difference between the parser's tree and
// the lifted one: values, styles, tags, anchors, aliases, comments, lines
// and columns.
func sameNodes(a, b *yaml.Node, path string) error {
	if (a == nil) != (b == nil) {
		return fmt.Errorf("%s: one side is nil", path)
	}
	if a == nil {
		return nil
	}
	type pos struct {
		Kind                                  yaml.Kind
		Style                                 yaml.Style
		Tag, Value, Anchor                    string
		HeadComment, LineComment, FootComment string
		Line, Column, N                       int
	}
	pa := pos{a.Kind, a.Style, a.Tag, a.Value, a.Anchor, a.HeadComment, a.LineComment, a.FootComment, a.Line, a.Column, len(a.Content)}
	pb := pos{b.Kind, b.Style, b.Tag, b.Value, b.Anchor, b.HeadComment, b.LineComment, b.FootComment, b.Line, b.Column, len(b.Content)}
	if pa != pb {
		return fmt.Errorf("%s: parser %+v, lifted %+v", path, pa, pb)
	}
	if (a.Alias == nil) != (b.Alias == nil) {
		return fmt.Errorf("%s: alias on one side only", path)
	}
	if a.Alias != nil && (a.Alias.Line != b.Alias.Line || a.Alias.Column != b.Alias.Column || a.Alias.Value != b.Alias.Value || a.Alias.Anchor != b.Alias.Anchor) {
		return fmt.Errorf("%s: aliases differ", path)
	}
	for i := range a.Content {
		if err := sameNodes(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

// checkLift is the differential check: whatever the pre-pass lifts, the
// tree and the plan file are the ones the parser gives for the whole
// document. It returns whether anything was lifted.
func checkLift(t *testing.T, doc string) bool {
	t.Helper()
	lifted, ok := lift(doc)
	// In place (ParseLargeInPlace): the same answer, and the text left
	// untouched when nothing is lifted.
	buf := []byte(doc)
	inPlace, okIn, _, own := liftIn(unsafe.String(unsafe.SliceData(buf), len(buf)), buf)
	if okIn != ok {
		t.Fatalf("lift says %v, in place %v:\n%q", ok, okIn, doc)
	}
	if !ok {
		if string(buf) != doc {
			t.Fatalf("an in-place lift that lifted nothing changed the text:\n%q", doc)
		}
		return false
	}
	full, err := decodeDoc(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("lifted a document the parser refuses (%v):\n%q", err, doc)
	}
	if err := sameNodes(full, lifted, ""); err != nil {
		t.Fatalf("lifted tree differs: %v\n%q", err, doc)
	}
	if err := sameNodes(full, inPlace, ""); err != nil {
		t.Fatalf("tree lifted in place differs: %v\n%q", err, doc)
	}
	f1, err1 := fromDoc(full)
	f2, err2 := fromDoc(lifted)
	if fmt.Sprint(err1) != fmt.Sprint(err2) || !reflect.DeepEqual(f1, f2) {
		t.Fatalf("plan file differs:\nparser %+v (%v)\nlifted %+v (%v)\n%q", f1, err1, f2, err2, doc)
	}
	// In place, with !!binary decoded over its text: the same plan file.
	f3, _, err3 := fromDocIn(inPlace, own)
	if fmt.Sprint(err1) != fmt.Sprint(err3) || !reflect.DeepEqual(f1, f3) {
		t.Fatalf("plan file parsed in place differs:\nparser %+v (%v)\nin place %+v (%v)\n%q", f1, err1, f3, err3, doc)
	}
	return true
}

const liftHead = "version: 1\ngoal: big\nsteps:\n"

// liftSeeds are documents whose large scalars (from 8 bytes) the pre-pass
// lifts: every form it reads, and the things around them.
var liftSeeds = []string{
	liftHead + "  - write: {path: a.txt, content: \"hello world, escaped \\n \\t \\x41 \\u00e9 \\U0001F600 \\L \\N \\_ \\\\ \\\" end\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"plain text with no escapes at all\"}\nverify:\n  - argv: [test, -s, a.txt]\n",
	liftHead + "  - write:\n      path: a.txt\n      content: 'single ''quoted'' text here'\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |\n        line one\n          more indented\n\n        line three\n\n\n  - delete: {path: b}\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |-\n        stripped\n        lines here\n\n# a comment\n  - delete: {path: b}\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |+\n        kept\n        lines here\n\n\n  - delete: {path: b}\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |2\n          two more\n        base line here\n",
	liftHead + "  - write:\n      path: a.txt\n      content: >\n        folded line\n        joined here\n\n          more indented\n        back\n",
	liftHead + "  - write:\n      path: a.txt\n      content: >-\n        folded stripped text\n        here\n",
	liftHead + "  - write:\n      path: a.txt\n      content: plain text on one line # with a comment\n",
	liftHead + "  - write:\n      path: a.txt\n      content: plain\ttabs\tinside  it   \n",
	strings.ReplaceAll(liftHead+"  - write:\n      path: a.txt\n      content: |\n        crlf line one\n        crlf line two\n\n  - write: {path: b.txt, content: \"crlf quoted text\"}\n", "\n", "\r\n"),
	liftHead + "  - write:\n      path: a.txt\n      content: \"multi line\n        folded   \n\n        with a gap \\\n        and an escaped break\"\n",
	liftHead + "  - write:\n      path: a.txt\n      content: &big \"anchored content here\"\n  - write:\n      path: b.txt\n      content: *big\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary |\n        aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary \"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\"\n",
	liftHead + "  - exec:\n      argv: [echo, \"a long argument here\", 'and another one']\n      writes: [out]\n",
	"# a \"quoted\" comment and it's fine\n" + liftHead + "  - write: {path: a.txt, content: \"after the comment text\"}\n",
	liftHead + "  - write: {path: \"caf\u00e9 \u2603.txt\", content: \"unicode \u00e9\u4e16\u754c\U0001F600 content\"}\n",
	liftHead + "  - write:\n      path: a.txt\n      content: \"one two three\" # trailing comment\n      # foot comment\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |  # header comment\n        body line long enough\n",
	liftHead + "  - write: {path: a.txt, content: \"x\", }\n  - write: {content: \"first then path\", path: b.txt}\n",
	// Every escape but \L and \P (decoded in place: none is longer
	// decoded than written), and the file as a JSON encoder writes it.
	liftHead + "  - write: {path: a.txt, content: \"\\0\\a\\b\\t\\\t\\n\\v\\f\\r\\e\\ \\\"\\'\\\\/x\\N\\_\\x41\\xe9\\u00e9\\u4e16\\uFFFD\\U0001F600\\U00000041 end\"}\n",
	liftHead + "  - write:\n      path: a.go\n      content: \"package main\\n\\nfunc main() {\\n\\tfmt.Println(\\\"caf\\u00e9 \\\\ ok\\\")\\n}\\n\"\n",
	// \L and \P are three bytes from two: copied, not decoded in place.
	liftHead + "  - write: {path: a.txt, content: \"a line \\L separator and a \\P paragraph\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"\\L\\L\\L\\L\\L\\L\\L\\P\"}\n",
	// Folds: breaks, empty lines, blanks around them, an escaped break,
	// an escaped blank before a break, escapes on continued lines.
	liftHead + "  - write:\n      path: a.txt\n      content: \"first \\t line   \n\n\n        after two empty\\\n   escaped break \\ \n  \\x41 continued\\n\n\t\ttabs\"\n",
	liftHead + "  - write:\n      path: a.txt\n      content: 'single ''quoted''\n\n        folded   text\n        here'\n",
	// !!binary decoded over its text: a block, a quoted line, a quoted
	// scalar folded over lines, blanks inside, padding.
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary |\n        aGVsbG8gd29y\n        bGQgaGVsbG8g\n        d29ybGQ=\n  - patch:\n      diff: !!binary \"ZGlmZiB0ZXh0IGhlcmU=\"\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary \"aGVs bG8g\td29y\n        bGQgaGVs\n\n        bG8gd29ybA==\"\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary >-\n        AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n        +/+/\n",
	// Not simple base64: left to the encoding package, with its error.
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary \"aGVsbG8=gd29ybGQ=\"\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary \"aGVsbG8gd29ybGQ\"\n",
	liftHead + "  - write:\n      path: a.bin\n      content: !!binary \"aGVsbG8_d29ybGQ=\"\n",
	// Anchored: its value is shared, so it is never decoded over.
	liftHead + "  - write:\n      path: a.bin\n      content: &b !!binary \"aGVsbG8gd29ybGQ=\"\n  - write:\n      path: b.bin\n      content: *b\n",
	liftHead + "  - write:\n      path: a.txt\n      content: &b \"escaped \\t anchored\"\n",
	// The file ends on a block's last line: an empty node after it is
	// placed on the line the parser's end of stream adds.
	"? key: |\n   0000000000000",
	liftHead + "  - write:\n      path: a.txt\n      content: |\n        ends without a break",
	liftHead + "  - write: {path: a.txt, content: \"ends without a break\"}",
}

// notLifted are documents the pre-pass must leave to the parser (or lift
// only where the parser agrees): keys, document markers, a second
// document, odd breaks, errors.
var notLifted = []string{
	liftHead + "  - write:\n      \"a long quoted key\": v\n",
	liftHead + "  - write:\n      path: a.txt\n      content: \"a quoted scalar\n---\n  with a document marker\"\n",
	liftHead + "  - write: {path: a.txt, content: \"first document\"}\n---\nversion: 1\ngoal: second\nsteps:\n  - write: {path: .git/hooks/x, content: \"second document\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"a carriage\rreturn alone\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"an unknown \\q escape\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"never closed\n",
	liftHead + "  - write:\n      path: a.txt\n      content: plain that continues\n        on the next line\n",
	liftHead + "  - write:\n      path: a.txt\n      content: |\n    under-indented body\n",
	"\ufeff" + liftHead + "  - write: {path: a.txt, content: \"after a byte-order mark\"}\n",
	liftHead + "  - write: {path: a.txt, content: \"control \x01 character\"}\n",
	// A block whose last content line is only blanks: a comment after it
	// is placed by the breaks since the last other character.
	">\n 0\n  \n#",
	liftHead + "  - write:\n      path: a.txt\n      content: |\n        some content here\n          \n# a comment\n",
}

func TestLiftSeeds(t *testing.T) {
	withLiftMin(t, 8)
	for i, doc := range liftSeeds {
		if !checkLift(t, doc) {
			t.Errorf("seed %d was not lifted:\n%s", i, doc)
		}
	}
	for _, doc := range notLifted {
		checkLift(t, doc) // lifted or not, never different
	}
}

// The default threshold: a 2 MiB double-quoted write is lifted without a
// copy (its text is its value), and the plan file is the parser's.
func TestLiftLargeMatchesParser(t *testing.T) {
	big := strings.Repeat("abc", 700<<10)
	for _, doc := range []string{
		liftHead + "  - write: {path: big.txt, content: \"" + big + "\"}\n",
		liftHead + "  - write:\n      path: big.txt\n      content: |\n        " + big + "\n        " + big + "\n",
		liftHead + "  - write:\n      path: big.txt\n      content: \"" + strings.ReplaceAll(big, "bc", "\\\"\\n") + "\"\n",
	} {
		if !checkLift(t, doc) {
			t.Fatalf("a %d MiB scalar was not lifted", len(big)>>20)
		}
	}
}

// A large scalar whose text is its value is not copied: parsing a plan
// file with a 16 MiB write allocates a small part of the file (the parser
// alone allocated about three times the scalar).
func TestParseLargeCopiesNothing(t *testing.T) {
	const size = 16 << 20
	doc := liftHead + "  - write: {path: big.txt, content: \"" + strings.Repeat("x", size) + "\"}\nverify:\n  - argv: [test, -s, big.txt]\n"
	var f *File
	got := allocated(func() {
		var err error
		if f, err = ParseString(doc); err != nil {
			t.Fatal(err)
		}
	})
	if len(f.Steps[0].Fields["content"]) != size {
		t.Fatalf("content is %d bytes", len(f.Steps[0].Fields["content"]))
	}
	if limit := uint64(size) / 8; got > limit {
		t.Fatalf("parsing a %d MiB plan file allocated %.1f MiB (%.2f× the file), want at most %.2f×", size>>20, float64(got)/(1<<20), float64(got)/size, float64(limit)/size)
	}
	t.Logf("parsing a %d MiB plan file allocated %.3f× the file", size>>20, float64(got)/size)
}

// A large scalar that needs decoding is decoded once, into a buffer of its
// size.
func TestParseLargeDecodesOnce(t *testing.T) {
	const size = 16 << 20
	doc := liftHead + "  - write:\n      path: big.txt\n      content: |\n" + strings.Repeat("        0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", size/64) + "verify:\n  - argv: [test, -s, big.txt]\n"
	got := allocated(func() {
		if _, err := ParseString(doc); err != nil {
			t.Fatal(err)
		}
	})
	if limit := uint64(size) * 5 / 4; got > limit {
		t.Fatalf("parsing a %d MiB block scalar allocated %.2f× its value, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
	}
	t.Logf("parsing a %d MiB block scalar allocated %.2f× its value", size>>20, float64(got)/size)
}

// A block scalar parsed in place is decoded over its own text: parsing
// allocates a small part of the file, so the text and the value are never
// held side by side (ParseLarge allocates the value beside the text).
func TestParseLargeInPlaceAllocatesLittle(t *testing.T) {
	const size = 16 << 20
	doc := liftHead + "  - write:\n      path: big.txt\n      content: |\n" + strings.Repeat("        0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", size/64) + "verify:\n  - argv: [test, -s, big.txt]\n"
	want, err := ParseString(doc)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte(doc)
	var f *File
	got := allocated(func() {
		var ok bool
		var kept bool
		if f, ok, kept, err = ParseLargeInPlace(buf); !ok || err != nil || kept {
			t.Fatalf("lifted %v, refused %v, text kept %v: want lifted in place", ok, err, kept)
		}
	})
	if !reflect.DeepEqual(f, want) {
		t.Fatal("the plan file parsed in place differs from the one parsed from its text")
	}
	if limit := uint64(size) / 8; got > limit {
		t.Fatalf("parsing a %d MiB block scalar in place allocated %.2f× its value, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
	}
	t.Logf("parsing a %d MiB block scalar in place allocated %.3f× its value", size>>20, float64(got)/size)
}

func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzLift: go test ./planfile -run '^$' -fuzz FuzzLift
func FuzzLift(f *testing.F) {
	for _, s := range append(append([]string{}, liftSeeds...), notLifted...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		withLiftMin(t, 8)
		checkLift(t, doc)
	})
}

// What is decoded over the file's text, and what is not: a quoted scalar
// with escapes none of which grows, but not one with \L or \P; !!binary in
// simple base64, but not base64 the encoding package must judge, nor an
// anchored scalar, whose value an alias shares.
func TestInPlaceForms(t *testing.T) {
	withLiftMin(t, 8)
	for _, c := range []struct {
		doc                 string
		wroteText, wroteBin bool
	}{
		{liftHead + "  - write: {path: a.txt, content: \"line\\nline\\n\\tq \\\"x\\\" \\\\ \\u00e9 \\x41 \\U0001F600\"}\n", true, false},
		{liftHead + "  - write: {path: a.txt, content: \"folded\n        over lines\"}\n", true, false},
		{liftHead + "  - write: {path: a.txt, content: 'it''s single'}\n", true, false},
		{liftHead + "  - write: {path: a.txt, content: \"no escapes at all\"}\n", false, false},
		{liftHead + "  - write: {path: a.txt, content: \"a line \\L separator\"}\n", false, false},
		{liftHead + "  - write: {path: a.txt, content: \"a paragraph \\P separator\"}\n", false, false},
		{liftHead + "  - write: {path: a.txt, content: &a \"anchored\\n text\"}\n", true, false},
		{liftHead + "  - write: {path: a.bin, content: !!binary \"aGVsbG8gd29ybGQ=\"}\n", false, true},
		{liftHead + "  - write:\n      path: a.bin\n      content: !!binary |\n        aGVsbG8g\n        d29ybGQ=\n", true, true},
		{liftHead + "  - write: {path: a.bin, content: !!binary \"aGVsbG8=d29ybGQ=\"}\n", false, false},
		{liftHead + "  - write: {path: a.bin, content: &b !!binary \"aGVsbG8gd29ybGQ=\"}\n", false, false},
	} {
		want, err := parse(strings.NewReader(c.doc)) // the YAML parser alone
		buf := []byte(c.doc)
		doc, ok, wrote, own := liftIn(unsafe.String(unsafe.SliceData(buf), len(buf)), buf)
		if !ok {
			t.Fatalf("not lifted:\n%s", c.doc)
		}
		f, wroteBin, err2 := fromDocIn(doc, own)
		if wrote != c.wroteText || wroteBin != c.wroteBin {
			t.Errorf("decoded over the text: scalar %v, binary %v; want %v, %v:\n%s", wrote, wroteBin, c.wroteText, c.wroteBin, c.doc)
		}
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(f, want) {
			t.Errorf("in place: %+v (%v), want %+v (%v)", f, err2, want, err)
		}
	}
}

// A large double-quoted scalar with escapes, as a JSON encoder writes a
// file, is decoded over its own text, and so is large !!binary content:
// parsing allocates a small part of the file.
func TestParseLargeInPlaceEscapedAllocatesLittle(t *testing.T) {
	const size = 16 << 20
	line := `\tfmt.Println(\"caf\u00e9 \\ ok\", x[i]) // 0123456789abcdefghijklmnopq\n` // 64 bytes decoded
	raw := make([]byte, size*3/4)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	var lines strings.Builder
	for i := 0; i < len(b64); i += 76 {
		lines.WriteString("        " + b64[i:min(i+76, len(b64))] + "\n")
	}
	for _, doc := range []string{
		liftHead + "  - write: {path: big.txt, content: \"" + strings.Repeat(line, size/64) + "\"}\nverify:\n  - argv: [test, -s, big.txt]\n",
		liftHead + "  - write:\n      path: big.bin\n      content: !!binary |\n" + lines.String() + "verify:\n  - argv: [test, -s, big.bin]\n",
	} {
		want, err := parse(strings.NewReader(doc)) // the YAML parser alone
		if err != nil {
			t.Fatal(err)
		}
		buf := []byte(doc)
		var f *File
		got := allocated(func() {
			var ok, kept bool
			if f, ok, kept, err = ParseLargeInPlace(buf); !ok || err != nil || kept {
				t.Fatalf("lifted %v, refused %v, text kept %v: want decoded in place", ok, err, kept)
			}
		})
		if !reflect.DeepEqual(f, want) {
			t.Fatal("the plan file parsed in place differs from the one parsed from its text")
		}
		if n := len(f.Steps[0].Fields["content"]); n < size*3/4 {
			t.Fatalf("content is %d bytes", n)
		}
		if limit := uint64(size) / 8; got > limit {
			t.Fatalf("parsing %d MiB in place allocated %.2f× the value, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
		}
		t.Logf("parsing %d MiB in place allocated %.3f× the value", size>>20, float64(got)/size)
	}
}
