package coordinator

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/storetest/memstore"
	"golang.org/x/crypto/ssh"
)

// A budget raise counts only through its answers.given event, and, when
// the policy lists signers, only signed by a listed person over this task
// and these answers: an AnswerPack written into the store behind
// AgentOS's back (threat 3), an unsigned answer, or a signature over
// another task's answers raises nothing.
func TestBudgetRaisesNeedTheirEvent(t *testing.T) {
	ctx := t.Context()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	alice := approval.Identity{Actor: agentos.Human("alice"), Sign: func(msg []byte) (*agentos.SignedStatement, error) {
		sig, err := signers.Sign(signer, msg)
		return &agentos.SignedStatement{Statement: string(msg), Signature: sig, Namespace: signers.Namespace}, err
	}}
	for _, signed := range []bool{false, true} {
		policy := "version: 1\n"
		if signed {
			policy += "signers:\n  - {name: alice, keys: [\"" + pub + "\"]}\n"
		}
		cfg, err := config.Parse([]byte(policy), "agentos.yaml")
		if err != nil {
			t.Fatal(err)
		}
		st := memstore.Open()
		c := &Coordinator{DB: st, Config: cfg}
		give := func(task, value string, event bool, sign *approval.Identity, statementTask string) {
			t.Helper()
			if _, err := st.Task(ctx, task); err != nil {
				if err := st.CreateTask(ctx, &agentos.Task{ID: task, Mode: agentos.ModeSemiAuto, Goal: "g", Planner: "openai", Target: "main", State: agentos.StateCreated}); err != nil {
					t.Fatal(err)
				}
			}
			ap := agentos.AnswerPack{Version: agentos.DocVersion, Pack: "q1", Who: agentos.Human("alice"), When: time.Now(),
				Answers: []agentos.Answer{{Question: "budget.task.tokens", Value: value}}}
			if err := st.SaveAnswerPack(ctx, task, &ap); err != nil {
				t.Fatal(err)
			}
			if !event {
				return
			}
			ev := agentos.AnswersEvent{Pack: ap.Pack, AnswerPack: ap.Hash, Who: ap.Who, Answers: []string{"budget.task.tokens"}}
			if sign != nil {
				s, err := sign.SignStatement(approval.Statement{Decision: "answer", Task: statementTask, Answers: canonjson.MustDigest(ap.Answers)}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ev.Signed = s
			}
			if _, err := st.Append(ctx, agentos.EventInput{Task: task, Actor: ap.Who, Kind: agentos.EventAnswers, Data: ev}); err != nil {
				t.Fatal(err)
			}
		}
		raise := func(task string) int64 {
			t.Helper()
			r, err := c.budgetRaises(ctx, task)
			if err != nil {
				t.Fatal(err)
			}
			return r["budget.task.tokens"].Limit
		}
		give("t1", "1000000", false, nil, "")
		if got := raise("t1"); got != 0 {
			t.Errorf("signers %v: a pack with no event raised the limit to %d", signed, got)
		}
		give("t2", "500", true, nil, "")
		if got, want := raise("t2"), map[bool]int64{false: 500, true: 0}[signed]; got != want {
			t.Errorf("signers %v: an unsigned answer raised the limit to %d, want %d", signed, got, want)
		}
		if signed {
			give("t3", "700", true, &alice, "t-other")
			if got := raise("t3"); got != 0 {
				t.Errorf("a signature over another task's answers raised the limit to %d", got)
			}
			give("t4", "900", true, &alice, "t4")
			if got := raise("t4"); got != 900 {
				t.Errorf("alice's signed raise = %d, want 900", got)
			}
		}
	}
}
