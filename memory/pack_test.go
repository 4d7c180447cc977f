package memory_test

import (
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
)

func TestVerifyPack(t *testing.T) {
	s := MustOpenStore(t)
	mustAdd(t, s, "The API is versioned under /v1")
	p, err := s.BuildPack(t.Context(), "task1", agentos.MemoryQuery{Text: "change the API"})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("BuildPack = %+v, %v", p, err)
	}
	if err := memory.VerifyPack(p); err != nil {
		t.Fatalf("VerifyPack(fresh) = %v", err)
	}
	p.Items = append(p.Items, agentos.PackedItem{ID: "forged"})
	if err := memory.VerifyPack(p); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("VerifyPack(tampered) = %v, want conflict", err)
	}
}
