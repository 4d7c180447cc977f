package coordinator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/policy"
)

// diffLinesByCopy is diffLines as it was before it worked in place: the
// reference the in-place split must match byte for byte.
func diffLinesByCopy(d string) (old, added []byte) {
	var o, a bytes.Buffer
	inHunk := false
	for _, l := range strings.SplitAfter(d, "\n") {
		switch {
		case strings.HasPrefix(l, "@@"):
			inHunk = true
		case !inHunk:
		case strings.HasPrefix(l, "+"):
			a.WriteString(l[1:])
		case strings.HasPrefix(l, "-"):
			o.WriteString(l[1:])
		}
	}
	return o.Bytes(), a.Bytes()
}

func TestDiffLinesInPlaceMatchesCopy(t *testing.T) {
	long := strings.Repeat("x", 70000)
	for _, d := range []string{
		"",
		"diff --git a/a b/a\nnew file mode 100644\n--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+" + long + "\n\\ No newline at end of file\n",
		"diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n@@ -9 +9,2 @@\n-nine\n+9\n++plus\n",
		"diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-old\r\n+new\r\n--- a\n+++ b\n",
		"--- a\n+++ b\n+not in a hunk\n",
		"@@ -1 +1 @@\n+no final newline",
		"@@\n+\n-\n+\n\n+x",
	} {
		wantOld, wantAdded := diffLinesByCopy(d)
		gotOld, gotAdded := diffLines([]byte(d))
		if !bytes.Equal(gotOld, wantOld) || !bytes.Equal(gotAdded, wantAdded) {
			t.Errorf("diffLines(%.60q) = %.60q, %.60q; want %.60q, %.60q", d, gotOld, gotAdded, wantOld, wantAdded)
		}
	}
}

// The added lines of a large diff take no second buffer (issue 14: at
// commit a 64 MiB write's diff, its added lines and the scan's decoded
// view were in memory together).
func TestDiffLinesAllocatesNoCopy(t *testing.T) {
	const size = 8 << 20
	d := []byte("diff --git a/a b/a\n--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+" + strings.Repeat("x", size) + "\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, added := diffLines(d)
	runtime.ReadMemStats(&after)
	if len(added) != size+1 {
		t.Fatalf("added %d bytes, want %d", len(added), size+1)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("diffLines of an %d-byte diff allocated %d bytes; want it done in place", len(d), n)
	}
}

// A large diff, which the scan consumes in place, is read from git again
// for the patch record: the record is git's diff of the commit, byte for
// byte, with its hash; and a secret in it is still found at commit.
func TestLargeDiffIsRecordedWholeAndScanned(t *testing.T) {
	var big strings.Builder
	for i := 0; big.Len() < agentos.StreamMin+4096; i++ {
		fmt.Fprintf(&big, "line %07d of a file larger than the streaming threshold\n", i)
	}
	t.Run("recorded", func(t *testing.T) {
		c, dir := gateCoordinator(t)
		ctx := t.Context()
		x := commitExecutor(t, c, dir)
		if err := os.WriteFile(filepath.Join(x.wt, "a.txt"), []byte(big.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		allRecords(t, x)
		sha, err := c.commit(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command("git", "-C", dir, "diff", "--binary", "--full-index", "--no-renames", "--no-color", x.plan.BaseCommit, sha, "--", "a.txt").Output()
		if err != nil || len(want) < agentos.StreamMin {
			t.Fatalf("git diff: %d bytes, %v", len(want), err)
		}
		ps, err := c.DB.Patches(ctx, x.run.ID)
		if err != nil || len(ps) != 1 {
			t.Fatalf("patches = %+v, %v", ps, err)
		}
		got := ps[0].Diff
		if ps[0].DiffBlob != "" {
			if got, err = c.DB.Blob(ctx, ps[0].DiffBlob); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(want)
		if got != string(want) || ps[0].DiffHash != sumString(string(want)) || ps[0].DiffHash == "" {
			t.Fatalf("the patch record is not git's diff: %d bytes (want %d), hash %s (want sha256 %s)", len(got), len(want), ps[0].DiffHash, hex.EncodeToString(sum[:]))
		}
	})
	t.Run("scanned", func(t *testing.T) {
		c, dir := gateCoordinator(t)
		ctx := t.Context()
		x := commitExecutor(t, c, dir)
		s := big.String()
		s = s[:len(s)/2] + "token = ghp_" + strings.Repeat("A1b2", 9) + "\n" + s[len(s)/2:]
		if err := os.WriteFile(filepath.Join(x.wt, "a.txt"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		allRecords(t, x)
		sha, err := c.commit(ctx, x) // this policy has no secrets rule
		if err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command("git", "-C", dir, "diff", "--binary", "--full-index", "--no-renames", "--no-color", x.plan.BaseCommit, sha, "--", "a.txt").Output()
		if err != nil {
			t.Fatal(err)
		}
		diffs, changes, err := c.fileDiffs(ctx, x.wt, x.plan.BaseCommit, sha, []string{"a.txt"})
		if err != nil || len(diffs) != 1 || !diffs[0].reread || diffs[0].diff != "" || len(changes) != 1 {
			t.Fatalf("fileDiffs of a large diff = %+v, %d changes, %v; want it not kept", diffs, len(changes), err)
		}
		_, added := diffLinesByCopy(string(want))
		if !bytes.Equal(changes[0].New, added) {
			t.Fatalf("the scan sees %d added bytes, not the diff's %d", len(changes[0].New), len(added))
		}
		found := policy.ScanSecrets(nil, changes)
		if len(found) != 1 || found[0].Path != "a.txt" {
			t.Fatalf("the scan of a large diff adding a token found %+v", found)
		}
	})
}

// allRecords writes the passing Plan, Apply and Verify records of
// commitExecutor's one step and one check.
func allRecords(t *testing.T, x *executor) {
	t.Helper()
	for _, ph := range []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify} {
		if err := x.record(t.Context(), agentos.StepRecord{Phase: ph, Index: 0, Kind: "write", Summary: "write a.txt", OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.record(t.Context(), agentos.StepRecord{Phase: agentos.PhaseVerify, Index: 1, Kind: "check", OK: true}); err != nil {
		t.Fatal(err)
	}
}

// TestFitDiff: a diff read into a buffer grown for a text diff of the
// file's size keeps only its own bytes when it came out far smaller (a
// binary file's compressed patch), so the buffer is not held beside the
// file the scan reads next; a diff that filled its buffer stays as it is.
func TestFitDiff(t *testing.T) {
	grown := make([]byte, 40, 2*agentos.StreamMin)
	copy(grown, "diff --git a/big.bin b/big.bin\nGIT bin")
	got := fitDiff(grown)
	if string(got) != string(grown) || cap(got) >= agentos.StreamMin {
		t.Fatalf("fitDiff kept a buffer of %d bytes for a %d-byte diff", cap(got), len(got))
	}
	full := make([]byte, 2*agentos.StreamMin)
	if got := fitDiff(full); &got[0] != &full[0] {
		t.Fatal("fitDiff copied a diff that filled its buffer")
	}
}
