package policy

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// smallWindows scans long runs in windows of 3 KiB overlapping by 96
// bytes for the rest of the test.
func smallWindows(t *testing.T) {
	w, o := scanWindow, scanOverlap
	scanWindow, scanOverlap = 3<<10, 3<<5
	t.Cleanup(func() { scanWindow, scanOverlap = w, o })
}

const ghToken = "ghp_0123456789abcdefghijABCDEFGHIJ012345" // 40 bytes: github-token

// filler is n bytes of text with nothing secret in it.
func filler(n int) []byte {
	return bytes.Repeat([]byte("filler text. "), n/13+1)[:n]
}

func scanOne(t *testing.T, old, new []byte) *Finding {
	t.Helper()
	found := ScanSecrets(nil, []Change{{Path: "f", Old: old, New: new}})
	if len(found) == 0 {
		return nil
	}
	return &found[0]
}

// A secret in a long base64 run is found wherever it lies against the
// windows' edges: across one, at its start, at its end.
func TestScanWindowsFindSecretAcrossEdges(t *testing.T) {
	smallWindows(t)
	for _, edge := range []int{scanWindow, 2 * scanWindow} {
		for off := edge - len(ghToken) - 2; off <= edge+2; off++ {
			payload := filler(4 * scanWindow)
			copy(payload[off:], " "+ghToken+" ")
			file := []byte("blob: " + base64.StdEncoding.EncodeToString(payload) + "\n")
			f := scanOne(t, nil, file)
			if f == nil || !slices.Contains(f.Rules, "github-token") || !slices.Contains(f.In, "base64") {
				t.Fatalf("token at decoded offset %d (window edge %d) not found: %+v", off, edge, f)
			}
		}
	}
}

// An encoding inside a long run is found across an edge too: a short one
// from the window that holds it whole, a long one (beyond the overlap) by
// decoding the run whole.
func TestScanWindowsFindNestedAcrossEdges(t *testing.T) {
	smallWindows(t)
	inner := []byte(base64.StdEncoding.EncodeToString([]byte("x " + ghToken + " y"))) // 64 bytes, under the overlap
	long := []byte(base64.StdEncoding.EncodeToString(append(filler(600), " "+ghToken+" "...)))
	for _, in := range [][]byte{inner, long} {
		for _, off := range []int{scanWindow - len(in)/2, scanWindow - len(in), scanWindow, 2*scanWindow - 7} {
			payload := filler(4 * scanWindow)
			payload[off-1], payload[off+len(in)] = ' ', ' '
			copy(payload[off:], in)
			file := []byte("blob: " + base64.StdEncoding.EncodeToString(payload) + "\n")
			f := scanOne(t, nil, file)
			if f == nil || !slices.Contains(f.Rules, "github-token") || !slices.Contains(f.In, "base64 > base64") {
				t.Fatalf("a %d-byte encoding at %d not found: %+v", len(in), off, f)
			}
		}
	}
}

// A long run holding an archive is decoded whole (an archive is read from
// its bytes whole), and a long hex run is windowed like base64.
func TestScanWindowsArchiveAndHex(t *testing.T) {
	smallWindows(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3*scanWindow)
	for i := range noise {
		noise[i] = byte(rnd.IntN(256))
	}
	zw.Write(noise)
	zw.Write([]byte("\ntoken " + ghToken + "\n"))
	zw.Close()
	f := scanOne(t, nil, []byte("blob: "+base64.StdEncoding.EncodeToString(gz.Bytes())+"\n"))
	if f == nil || !slices.Contains(f.Rules, "github-token") || !slices.Contains(f.In, "base64 > gzip") {
		t.Fatalf("token in a gzip stream in a long base64 run not found: %+v", f)
	}
	payload := filler(4 * scanWindow)
	copy(payload[scanWindow-20:], " "+ghToken+" ")
	f = scanOne(t, nil, []byte("blob: "+hex.EncodeToString(payload)+"\n"))
	if f == nil || !slices.Contains(f.Rules, "github-token") || !slices.Contains(f.In, "hex") {
		t.Fatalf("token across a window edge in a long hex run not found: %+v", f)
	}
}

// A secret already in the file before is not new, windows or not.
func TestScanWindowsOldSecretIsNotNew(t *testing.T) {
	smallWindows(t)
	payload := filler(4 * scanWindow)
	copy(payload[scanWindow-20:], " "+ghToken+" ")
	file := []byte("blob: " + base64.StdEncoding.EncodeToString(payload) + "\n")
	if f := scanOne(t, file, file); f != nil {
		t.Fatalf("an unchanged secret reported as new: %+v", f)
	}
}

// The windows read what the whole decoded run would: random documents of
// encodings, secrets and filler give the same findings both ways (a
// secret cut by an edge may add a finding, never lose one).
func TestScanWindowsMatchWhole(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 9))
	pieces := []func() []byte{
		func() []byte { return filler(rnd.IntN(300)) },
		func() []byte { return []byte(" " + ghToken + " ") },
		func() []byte { return []byte(" AKIAIOSFODNN7EXAMPLE ") },
		func() []byte {
			return []byte(" " + base64.StdEncoding.EncodeToString([]byte("k "+ghToken+" ")) + " ")
		},
		func() []byte {
			return []byte(" " + hex.EncodeToString([]byte("url https://u:hunter22@h.example/ x")) + " ")
		},
	}
	for i := range 40 {
		var payload []byte
		for len(payload) < 5*(3<<10) {
			payload = append(payload, pieces[rnd.IntN(len(pieces))]()...)
		}
		file := []byte("a: " + base64.StdEncoding.EncodeToString(payload) + "\n")
		whole := scanOne(t, nil, file)
		t.Run("", func(t *testing.T) {
			smallWindows(t)
			win := scanOne(t, nil, file)
			if (whole == nil) != (win == nil) {
				t.Fatalf("doc %d: whole %+v, windows %+v", i, whole, win)
			}
			if whole == nil {
				return
			}
			for _, r := range whole.Rules {
				if !slices.Contains(win.Rules, r) {
					t.Fatalf("doc %d: windows lost rule %s: whole %+v, windows %+v", i, r, whole, win)
				}
			}
			for _, w := range whole.In {
				if !slices.Contains(win.In, w) {
					t.Fatalf("doc %d: windows lost place %s: whole %+v, windows %+v", i, w, whole, win)
				}
			}
		})
	}
}

// A long run's decoded form is never whole in memory: scanning a 16 MiB
// run of base64 letters allocates one window, not the 12 MiB it decodes
// to (0.75× the file before).
func TestScanSecretsWindowsLongRuns(t *testing.T) {
	const size = 16 << 20
	changes := []Change{{Path: "big.txt", New: []byte(strings.Repeat("x", size))}}
	ScanSecrets(nil, changes)
	got := allocated(func() { ScanSecrets(nil, changes) })
	if limit := uint64(size) * 3 / 10; got > limit {
		t.Fatalf("scanning a %d MiB run allocated %.2f× the file, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
	}
	t.Logf("scanning a %d MiB run allocated %.2f× the file", size>>20, float64(got)/size)
}

// A file of many short encoded lines is scanned a run at a time: no list
// of its runs or of their decoded views is kept (16 MiB of 64-byte hex
// lines allocated 12× the file before, much of it held to the end).
func TestScanSecretsManyRunsHoldsNoList(t *testing.T) {
	const size = 16 << 20
	body := []byte(strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", size/64))
	changes := []Change{{Path: "big.txt", New: body}}
	ScanSecrets(nil, changes)
	got := allocated(func() { ScanSecrets(nil, changes) })
	if limit := uint64(size) * 2; got > limit {
		t.Fatalf("scanning %d MiB of encoded lines allocated %.2f× the file, want at most %.2f×", size>>20, float64(got)/size, float64(limit)/size)
	}
	t.Logf("scanning %d MiB of encoded lines allocated %.2f× the file", size>>20, float64(got)/size)
}
