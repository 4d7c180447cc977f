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

// view is one readable form of a changed file: the file itself (where ""),
// or what an encoding or archive in it holds.
type view struct {
	where string
	data  []byte
}

// expansion collects a file's views within the bounds.
type expansion struct {
	views     []view
	left      int // bytes that may still be decoded or decompressed
	members   int
	unscanned []string // where, and why not
}

func expand(data []byte) *expansion {
	x := &expansion{left: maxExpandedBytes}
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
	x.views = append(x.views, view{where, data})
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
	x.decodeRuns(where, data, depth)
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
			x.views = append(x.views, view{w, []byte(h.Linkname)})
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
// hold another encoding).
func (x *expansion) decodeRuns(where string, data []byte, depth int) {
	b64, hexRuns := runs(data)
	for _, run := range b64 {
		// Padding inside a run: encodings back to back, each decoded.
		for _, part := range bytes.FieldsFunc(run, func(r rune) bool { return r == '=' }) {
			if len(part) < minBase64Run {
				continue
			}
			if b := decodeBase64(part); len(b) > 0 && x.take(len(b)) {
				x.add(join(where, "base64"), b, depth+1)
			}
		}
	}
	for _, run := range hexRuns {
		run = run[:len(run)&^1]
		b := make([]byte, len(run)/2)
		if _, err := hex.Decode(b, run); err == nil && x.take(len(b)) {
			x.add(join(where, "hex"), b, depth+1)
		}
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

// runs returns the maximal runs of base64 bytes (at least minBase64Run) and
// of hex digits (at least minHexRun) in data.
func runs(data []byte) (b64, hexRuns [][]byte) {
	b64Start, hexStart := -1, -1
	for i := 0; i <= len(data); i++ {
		var c uint8
		if i < len(data) {
			c = byteClass[data[i]]
		}
		if c&classBase64 != 0 {
			if b64Start < 0 {
				b64Start = i
			}
		} else if b64Start >= 0 {
			if i-b64Start >= minBase64Run {
				b64 = append(b64, data[b64Start:i])
			}
			b64Start = -1
		}
		if c&classHex != 0 {
			if hexStart < 0 {
				hexStart = i
			}
		} else if hexStart >= 0 {
			if i-hexStart >= minHexRun {
				hexRuns = append(hexRuns, data[hexStart:i])
			}
			hexStart = -1
		}
	}
	return b64, hexRuns
}

// decodeBase64 decodes a run (without padding) in the standard or URL
// alphabet; nil if it is neither.
func decodeBase64(run []byte) []byte {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(run, "-_") {
		if bytes.ContainsAny(run, "+/") {
			return nil
		}
		enc = base64.RawURLEncoding
	}
	// Decoded straight from the run: no string copy of it.
	b := make([]byte, enc.DecodedLen(len(run)))
	n, err := enc.Decode(b, run)
	if err != nil {
		return nil
	}
	return b[:n]
}
