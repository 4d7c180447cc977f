package coordinator

import "testing"

func TestParseDiff(t *testing.T) {
	got, err := parseDiff("diff --git a/x.txt b/y.txt\nsimilarity index 90%\nrename from x.txt\nrename to y.txt\n--- a/x.txt\n+++ b/y.txt\n@@ -1 +1 @@\n-a\n+b\n" +
		"diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+n\n" +
		"diff --git a/old.txt b/old.txt\ndeleted file mode 100644\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-o\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []fileChange{{"x.txt", "y.txt"}, {"", "new.txt"}, {"old.txt", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseDiff("just text\n"); err == nil {
		t.Error("a diff without headers parsed")
	}
}

// Whatever the patch text, parseDiff never panics and never returns a change
// without a path.
func FuzzParseDiff(f *testing.F) {
	f.Add("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
	f.Add("diff --git a/\"q x\" b/\"q x\"\n")
	f.Add("+++ b/x\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseDiff(s)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Old == "" && c.New == "" {
				t.Fatalf("change without a path from %q", s)
			}
		}
	})
}
