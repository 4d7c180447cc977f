package policy

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// The final secret scan also reads what a file encodes: base64 and hex runs
// are decoded, and zip, tar and gzip archives opened, so that a command
// cannot carry a secret into a commit by encoding or packing it. All of it
// is bounded, so that an archive bomb costs neither memory nor time: what
// lies beyond a bound is not scanned, and is reported as such (rule
// UnscannedRule), which the policy's secret rules then judge like a secret.
const (
	// UnscannedRule names content the scan could not read (an archive
	// beyond the bounds, an encrypted zip member, a corrupt archive).
	UnscannedRule = "unscanned-archive"

	maxScanDepth      = 4        // archive in archive, encoding in archive, ...
	maxArchiveMembers = 4096     // per changed file, all archives together
	maxMemberBytes    = 16 << 20 // one member, decompressed
	maxExpandedBytes  = 64 << 20 // per changed file, everything decoded or decompressed
	minBase64Run      = 24       // 18 bytes: shorter runs are words, not encodings
	minHexRun         = 32       // 16 bytes
)

// A long base64 or hex run is decoded and scanned a window at a time (see
// decodeWindows), so its decoded form is never in memory whole beside the
// file: windows of scanWindow decoded bytes, each also holding the
// scanOverlap bytes before it, so that a secret (or an encoding inside
// the run) shorter than the overlap lies whole in one window. Variables
// for the tests; both multiples of 3 (a base64 window starts on a group).
var (
	scanWindow  = 3 << 20
	scanOverlap = 3 << 14 // 48 KiB
)

// view is one readable form of a changed file: the file itself (where ""),
// or what an encoding or archive in it holds.
type view struct {
	where string
	data  []byte
}

// expansion hands a file's views to visit, one at a time, within the
// bounds. A view is not written while it is visited, but it may be after
// (the buffer of a long run's windows): visit keeps nothing of it.
type expansion struct {
	visit     func(view)
	left      int // bytes that may still be decoded or decompressed
	members   int
	unscanned []string // where, and why not
}

func expand(data []byte, visit func(view)) *expansion {
	x := &expansion{left: maxExpandedBytes, visit: visit}
	x.add("", data, 0)
	return x
}

func join(where, what string) string {
	if where == "" {
		return what
	}
	return where + " > " + what
}

func (x *expansion) skip(where, why string) {
	x.unscanned = append(x.unscanned, where+": "+why)
}

// add records data as a view and looks inside it.
func (x *expansion) add(where string, data []byte, depth int) {
	x.visit(view{where, data})
	if depth >= maxScanDepth || len(data) == 0 {
		return
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		x.zip(where, data, depth)
		return
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		x.gzip(where, data, depth)
		return
	case len(data) >= 262 && bytes.Equal(data[257:262], []byte("ustar")):
		x.tar(where, data, depth)
		return
	}
	x.decodeRuns(where, data, depth, classBase64|classHex, nil)
}

// read reads r within the bounds; ok is false (and the reason recorded)
// when the member is larger than they allow.
func (x *expansion) read(where string, r io.Reader) ([]byte, bool) {
	limit := min(maxMemberBytes, x.left)
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		x.left -= limit
		x.skip(where, fmt.Sprintf("more than %d MB decompressed", limit>>20))
		return nil, false
	}
	x.left -= len(b)
	if err != nil {
		x.skip(where, "unreadable: "+err.Error())
		return b, false
	}
	return b, true
}

func (x *expansion) member(where string) bool {
	x.members++
	if x.members > maxArchiveMembers {
		if x.members == maxArchiveMembers+1 {
			x.skip(where, fmt.Sprintf("more than %d archive members", maxArchiveMembers))
		}
		return false
	}
	if x.left <= 0 {
		x.skip(where, fmt.Sprintf("more than %d MB decompressed in all", maxExpandedBytes>>20))
		return false
	}
	return true
}

func (x *expansion) zip(where string, data []byte, depth int) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		x.skip(join(where, "zip"), "not a readable zip archive: "+err.Error())
		return
	}
	for _, f := range zr.File {
		w := join(where, "zip member "+f.Name)
		if f.FileInfo().IsDir() {
			continue
		}
		if !x.member(w) {
			return
		}
		if f.Flags&0x1 != 0 {
			x.skip(w, "encrypted")
			continue
		}
		rc, err := f.Open()
		if err != nil {
			x.skip(w, "unreadable: "+err.Error())
			continue
		}
		b, ok := x.read(w, rc)
		rc.Close()
		if ok {
			x.add(w, b, depth+1)
		}
	}
}

func (x *expansion) gzip(where string, data []byte, depth int) {
	w := join(where, "gzip")
	if !x.member(w) {
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		x.skip(w, "not a readable gzip stream: "+err.Error())
		return
	}
	if b, ok := x.read(w, zr); ok {
		x.add(w, b, depth+1)
	}
}

func (x *expansion) tar(where string, data []byte, depth int) {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			x.skip(join(where, "tar"), "not a readable tar archive: "+err.Error())
			return
		}
		w := join(where, "tar member "+h.Name)
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
		case tar.TypeSymlink, tar.TypeLink:
			x.visit(view{w, []byte(h.Linkname)})
			continue
		default:
			continue
		}
		if !x.member(w) {
			return
		}
		if b, ok := x.read(w, tr); ok {
			x.add(w, b, depth+1)
		}
	}
}

// decodeRuns decodes the base64 and hex runs of data long enough to hold a
// secret; each decoded run is a view of its own (and may be an archive or
// hold another encoding). kinds (classBase64, classHex) says which runs
// to decode; keep, when set, picks them by their span in data (a window
// of a longer run: see decodeWindows).
func (x *expansion) decodeRuns(where string, data []byte, depth, kinds int, keep func(lo, hi int) bool) {
	// Runs are decoded as they are found (a file of many lines holds
	// millions of them: a list of them all would be tens of MiB).
	var b64Class, hexClass uint8
	if kinds&classBase64 != 0 {
		b64Class = classBase64
	}
	if kinds&classHex != 0 {
		hexClass = classHex
	}
	eachRun(data, b64Class, minBase64Run, func(lo, hi int) {
		if keep != nil && !keep(lo, hi) {
			return
		}
		run := data[lo:hi]
		// Padding inside a run: encodings back to back, each decoded.
		for _, part := range bytes.FieldsFunc(run, func(r rune) bool { return r == '=' }) {
			if len(part) < minBase64Run {
				continue
			}
			if len(part)%4 == 1 {
				part = part[:len(part)-1]
			}
			enc := base64Encoding(part)
			if enc == nil {
				continue
			}
			if n := enc.DecodedLen(len(part)); n > 2*scanWindow {
				if x.take(n) {
					x.decodeWindows(join(where, "base64"), part, n, depth+1, base64Codec{enc})
				}
				continue
			}
			if b := decodeBase64(part); len(b) > 0 && x.take(len(b)) {
				x.add(join(where, "base64"), b, depth+1)
			}
		}
	})
	eachRun(data, hexClass, minHexRun, func(lo, hi int) {
		if keep != nil && !keep(lo, hi) {
			return
		}
		run := data[lo:hi]
		run = run[:len(run)&^1]
		if n := len(run) / 2; n > 2*scanWindow {
			if x.take(n) {
				x.decodeWindows(join(where, "hex"), run, n, depth+1, hexCodec{})
			}
			return
		}
		b := make([]byte, len(run)/2)
		if _, err := hex.Decode(b, run); err == nil && x.take(len(b)) {
			x.add(join(where, "hex"), b, depth+1)
		}
	})
}

// codec decodes the part of a run that holds decoded bytes [lo, hi), into
// buf when it has room.
type codec interface {
	decode(buf, run []byte, lo, hi int) []byte
}

// room is buf with at least n bytes, reused when it has them.
func room(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

type base64Codec struct{ enc *base64.Encoding }

func (c base64Codec) decode(buf, run []byte, lo, hi int) []byte {
	// lo is a multiple of 3, so it starts a group of 4 letters.
	e := min(len(run), (hi+2)/3*4)
	b := room(buf, c.enc.DecodedLen(e-lo/3*4))
	n, _ := c.enc.Decode(b, run[lo/3*4:e])
	return b[:min(n, hi-lo)]
}

type hexCodec struct{}

func (hexCodec) decode(buf, run []byte, lo, hi int) []byte {
	b := room(buf, hi-lo)
	hex.Decode(b, run[2*lo:2*hi])
	return b
}

// decodeWindows is add for a run of n decoded bytes too long to decode
// whole beside the file: its windows are visited one after the other, in
// one buffer (a visit keeps nothing of its view). It reads what add would, with
// these exceptions, each failing closed: an archive needs its bytes
// whole, so a run whose first bytes start one is decoded whole as before;
// so is a run holding a run of its own too long for the overlap (found
// first, in a pass that keeps nothing); a secret cut at a window's edge
// still counts as found, by its part. Nested runs are decoded once each,
// from the first window holding them whole, in add's order (base64, then
// hex).
func (x *expansion) decodeWindows(where string, run []byte, n, depth int, c codec) {
	whole := func() {
		x.add(where, c.decode(nil, run, 0, n), depth)
	}
	first := c.decode(nil, run, 0, min(n, 512))
	if bytes.HasPrefix(first, []byte("PK\x03\x04")) || bytes.HasPrefix(first, []byte("PK\x05\x06")) ||
		bytes.HasPrefix(first, []byte{0x1f, 0x8b}) || len(first) >= 262 && bytes.Equal(first[257:262], []byte("ustar")) {
		whole()
		return
	}
	// windows calls fn with each window and where it starts in the run.
	buf := make([]byte, scanWindow+scanOverlap+2)
	windows := func(fn func(w []byte, lo int)) {
		for lo := 0; lo < n; lo += scanWindow {
			from := max(0, lo-scanOverlap)
			fn(c.decode(buf, run, from, min(n, lo+scanWindow)), from)
		}
	}
	nested := depth < maxScanDepth
	if nested {
		// A run inside that reaches a window's cut edge and is as long as
		// the overlap may lie whole in no window: then decode it all.
		long := false
		windows(func(w []byte, lo int) {
			check := func(a, b int) {
				cut := a == 0 && lo > 0 || b == len(w) && lo+len(w) < n
				if cut && b-a >= scanOverlap-1 {
					long = true
				}
			}
			eachRun(w, classBase64, minBase64Run, check)
			eachRun(w, classHex, minHexRun, check)
		})
		if long {
			whole()
			return
		}
	}
	windows(func(w []byte, lo int) { x.visit(view{where, w}) })
	if !nested {
		return
	}
	// The nested runs of each window not cut by its edges and not met in
	// an earlier window, base64 first then hex, as decodeRuns would.
	for _, kind := range []int{classBase64, classHex} {
		last := -1
		windows(func(w []byte, lo int) {
			x.decodeRuns(where, w, depth, kind, func(a, b int) bool {
				if a == 0 && lo > 0 || b == len(w) && lo+len(w) < n || lo+a <= last {
					return false
				}
				last = lo + a
				return true
			})
		})
	}
}

func (x *expansion) take(n int) bool {
	if n > x.left {
		return false
	}
	x.left -= n
	return true
}

// Byte classes of the runs: one table lookup per byte of every changed
// file, in one pass for both encodings.
const (
	classBase64 = 1 << iota
	classHex
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		b := byte(c)
		if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '-' || b == '_' || b == '=' {
			t[c] |= classBase64
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' {
			t[c] |= classHex
		}
	}
	return t
}()

// eachRun calls fn with the span of each maximal run of bytes of class
// (classBase64 or classHex; 0: none) at least minLen long, in order.
func eachRun(data []byte, class uint8, minLen int, fn func(lo, hi int)) {
	if class == 0 {
		return
	}
	start := -1
	for i := 0; i <= len(data); i++ {
		if i < len(data) && byteClass[data[i]]&class != 0 {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= minLen {
			fn(start, i)
		}
		start = -1
	}
}

// base64Encoding is the alphabet of a run (without padding, its length
// not 1 more than a multiple of 4): standard or URL; nil if it mixes them.
func base64Encoding(run []byte) *base64.Encoding {
	if bytes.ContainsAny(run, "-_") {
		if bytes.ContainsAny(run, "+/") {
			return nil
		}
		return base64.RawURLEncoding
	}
	return base64.RawStdEncoding
}

// decodeBase64 decodes a run (without padding) in the standard or URL
// alphabet; nil if it is neither.
func decodeBase64(run []byte) []byte {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	enc := base64Encoding(run)
	if enc == nil {
		return nil
	}
	// Decoded straight from the run: no string copy of it.
	b := make([]byte, enc.DecodedLen(len(run)))
	n, err := enc.Decode(b, run)
	if err != nil {
		return nil
	}
	return b[:n]
}
