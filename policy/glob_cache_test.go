package policy

import (
	"fmt"
	"testing"
)

// The pattern cache stays bounded however many distinct patterns a
// long-running process evaluates, and patterns past the bound still match.
func TestGlobCacheBounded(t *testing.T) {
	for i := range globCacheMax + 100 {
		p := fmt.Sprintf("bound-%d/*.go", i)
		if !Glob(fmt.Sprintf("bound-%d/x.go", i), p) {
			t.Fatalf("%s does not match", p)
		}
	}
	if n := globCached.Load(); n > globCacheMax {
		t.Fatalf("%d patterns cached, want at most %d", n, globCacheMax)
	}
	n := 0
	globCache.Range(func(any, any) bool { n++; return true })
	if n > globCacheMax {
		t.Fatalf("%d patterns in the cache, want at most %d", n, globCacheMax)
	}
}
