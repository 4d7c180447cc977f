package agentos

import (
	"runtime/debug"
	"testing"
)

// Holders of a lowered GC setting that end in any order leave the setting
// as it was before the first: a server planning two large tasks at once
// must not be left collecting at 10% for good.
func TestLowerGCRestoresInAnyOrder(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	a := LowerGC(25)
	b := LowerGC(10)
	if got := debug.SetGCPercent(-2); got != 10 {
		t.Fatalf("with holders at 25 and 10 the setting is %d, want 10", got)
	}
	debug.SetGCPercent(10)
	a() // the first holder ends first
	if got := debug.SetGCPercent(-2); got != 10 {
		t.Fatalf("after the first holder ended the setting is %d, want 10 (the other holder's)", got)
	}
	debug.SetGCPercent(10)
	b()
	b() // a second call changes nothing
	if got := debug.SetGCPercent(-2); got != 100 {
		t.Fatalf("after both holders ended the setting is %d, want 100", got)
	}
	debug.SetGCPercent(100)
}
