package planner

import (
	"testing"

	"github.com/agentos/agentos"
)

// FuzzDecodePlan: whatever a model answers, decoding and checking never
// panic, and an accepted plan has only clean, relative, unprotected paths.
func FuzzDecodePlan(f *testing.F) {
	f.Add(`{"goal":"g","steps":[{"kind":"write","path":"a.txt","content":"x","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"r","risk":"low"}],"verify":[],"open_questions":[]}`)
	f.Add(`{"goal":"g","steps":[{"kind":"rename","path":"","content":"","diff":"","paths":[],"from":"a.txt","to":"../b","argv":[],"timeout_ms":0,"rationale":"r","risk":"low"}],"verify":[],"open_questions":[]}`)
	f.Add(`{"goal":1}`)
	f.Add(`[]`)
	f.Add(`{"goal":"g","steps":null,"verify":[],"open_questions":[]}`)
	tree := RepoContext{Tree: []string{"a.txt", "dir/b.txt"}}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := DecodePlan([]byte(raw))
		if err != nil {
			return
		}
		pl := p.Plan(agentos.Intent{ID: "i"}, "fuzz")
		if CheckPlan(pl, tree.Exists) != nil {
			return
		}
		for _, path := range pl.Paths() {
			if msg := BadPath(path); msg != "" {
				t.Fatalf("accepted plan writes %q, which %s", path, msg)
			}
		}
	})
}
