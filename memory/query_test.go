package memory_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/memory/memorytest"
)

func TestTerms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"api-key", []string{"api", "key"}},
		{"C++", []string{"c"}},
		{`"unbalanced`, []string{"unbalanced"}},
		{"Release release RELEASE", []string{"release"}},
		{"*", nil},
		{"🔥", nil},
		{"", nil},
		{"Grüße 東京", []string{"grüße", "東京"}},
	} {
		if got := memory.Terms(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Terms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := len(memory.Terms(strings.Repeat("a b c d e f g h i j k l m n o p q r s t u v w x y z ", 3) + "aa bb cc dd ee ff gg")); n != 32 {
		t.Errorf("Terms keeps %d terms, want the cap of 32", n)
	}
}

// FuzzSearch: whatever the text, search and pack building succeed, and every
// hit is live and holds at least one of the query's words.
func FuzzSearch(f *testing.F) {
	for _, q := range memorytest.HostileQueries {
		f.Add(q)
	}
	s := MustOpenStore(f)
	texts := []string{"Store the api-key in the vault", "C++ sources use clang-format", "NEAR: a word, not an operator", "deploy 🚀 on Fridays? never", "Grüße aus 東京"}
	for _, txt := range texts {
		mustAdd(f, s, txt)
	}
	f.Fuzz(func(t *testing.T, q string) {
		hits, err := s.Search(t.Context(), memory.Query{Text: q, Paths: []string{q}, Limit: 5})
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		terms := memory.Terms(q)
		for _, h := range hits {
			if h.Item.SupersededBy != "" {
				t.Fatalf("Search(%q) returned superseded %s", q, h.Item.ID)
			}
			if !isASCII(q) {
				continue // FTS5 folds diacritics ("á" finds "a"); Terms does not
			}
			// The index stems (porter): "branch" finds "branches", so a hit
			// must hold a word that starts like a query term.
			words := memory.Terms(h.Item.Text)
			if !slices.ContainsFunc(terms, func(t string) bool {
				return slices.ContainsFunc(words, func(w string) bool { return sameStemPrefix(t, w) })
			}) {
				t.Fatalf("Search(%q) returned %q, which holds none of %q", q, h.Item.Text, terms)
			}
		}
		p, err := s.BuildPack(t.Context(), "t", agentos.MemoryQuery{Text: q})
		if err != nil {
			t.Fatalf("BuildPack(%q): %v", q, err)
		}
		if p.Hash != p.ComputeHash() {
			t.Fatalf("BuildPack(%q): hash mismatch", q)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// sameStemPrefix: porter keeps at least the first three letters of a word
// (or the whole of a shorter one) and only rewrites its ending.
func sameStemPrefix(a, b string) bool {
	n := min(len(a), len(b), 3)
	return a[:n] == b[:n]
}
