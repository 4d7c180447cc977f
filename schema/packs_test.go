package schema_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/schema"
)

// The packs AgentOS writes validate against the schemas it prints.
func TestPacksMatchTheirSchemas(t *testing.T) {
	qp := agentos.QuestionPack{Version: 1, ID: "q1", Task: "t1", Mode: agentos.ModeSemiAuto, Budget: agentos.Budget{Limit: 3, Used: 1},
		Questions: []agentos.Question{{ID: "version", Text: "Which?", Why: "w", Kind: agentos.KindText, Options: []string{}, Blocker: true}}, CreatedAt: time.Now()}
	qp.Hash = qp.ComputeHash()
	ap := agentos.AnswerPack{Version: 1, Pack: "q1", PackHash: qp.Hash, Answers: []agentos.Answer{{Question: "version", Value: "1.4.0"}}, Who: agentos.Human("ann"), When: time.Now()}
	ap.Hash = ap.ComputeHash()
	for name, v := range map[string]any{"questionpack": qp, "answerpack": ap} {
		b, _ := json.Marshal(v)
		if err := schema.Validate(name, b); err != nil {
			t.Errorf("%s does not match its schema: %v\n%s", name, err, b)
		}
	}
	// And a broken one does not.
	if err := schema.Validate("answerpack", []byte(`{"pack":"q1"}`)); err == nil {
		t.Error("an AnswerPack without answers validated")
	}
}
