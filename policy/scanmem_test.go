package policy

import (
	"runtime"
	"strings"
	"testing"
)

// allocated is the bytes fn allocates (runtime.MemStats.TotalAlloc, which
// counts every allocation: the figure is the same on every run).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The secret scan of a large added file holds the file and what it decodes
// to, not copies of them: a 16 MiB run of base64 letters (decoded: 12 MiB)
// allocates about the decoded view. It used to allocate about six times the
// file (a string copy of each view, a lower-cased copy of each, a string
// copy of the run before decoding it).
func TestScanSecretsCopiesNothingLarge(t *testing.T) {
	const size = 16 << 20
	body := []byte(strings.Repeat("x", size))
	changes := []Change{{Path: "big.txt", New: body}}
	ScanSecrets(nil, changes) // compile the rules first
	got := allocated(func() {
		if found := ScanSecrets(nil, changes); len(found) != 0 {
			t.Fatalf("findings in a run of x: %+v", found)
		}
	})
	if limit := uint64(size) * 5 / 4; got > limit {
		t.Fatalf("scanning a %d MiB file allocated %.1f MiB (%.2f× the file), want at most %.2f×", size>>20, float64(got)/(1<<20), float64(got)/size, float64(limit)/size)
	}
	t.Logf("scanning a %d MiB file allocated %.2f× the file", size>>20, float64(got)/size)
}
