package approval_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/signers/passkeytest"
	"github.com/agentos/agentos/sqlite"
	"golang.org/x/crypto/ssh"
)

func mustStore(tb testing.TB) *approval.Store {
	tb.Helper()
	db, err := sqlite.Create(tb.Context(), filepath.Join(tb.TempDir(), "agentos.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	s := approval.NewStore(db)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db.Now = func() time.Time { now = now.Add(time.Second); return now }
	return s
}

func fixture(id string) (agentos.Task, agentos.Plan, approval.Binding) {
	p := agentos.Plan{Version: 1, ID: "plan-" + id, Task: "t1", BaseCommit: "base1", PolicyHash: "sha256:pol1", MemoryPackHash: "sha256:mem1",
		Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: ".github/workflows/ci.yml", Content: "on: push\n"}}}
	p.Hash = p.ComputeHash()
	t := agentos.Task{ID: "t1", State: agentos.StateAwaitingApproval, PlanID: p.ID, PlanHash: p.Hash, Submitter: agentos.Human("ann")}
	return t, p, approval.Binding{Base: "base1", PolicyHash: "sha256:pol1", MemoryHash: "sha256:mem1"}
}

var anyHuman = []approval.Requirement{{RuleID: "ci-config", Approvals: 1}}

func req(t agentos.Task, p agentos.Plan, b approval.Binding, who agentos.Actor, reqs []approval.Requirement) approval.Request {
	return approval.Request{Task: t, Plan: p, Given: p.Hash, Who: approval.Identity{Actor: who}, Author: agentos.Agent("openai"), Current: b, Requirements: reqs}
}

func TestApproveRefusals(t *testing.T) {
	task, p, b := fixture("a")
	other := p
	other.Steps = nil
	other.Hash = other.ComputeHash()
	tests := []struct {
		name     string
		mutate   func(r *approval.Request)
		wantCode string
	}{
		{"agent approver", func(r *approval.Request) { r.Who.Actor = agentos.Agent("openai") }, agentos.EDENIED},
		{"system approver", func(r *approval.Request) { r.Who.Actor = agentos.System }, agentos.EDENIED},
		{"agent approves its own plan", func(r *approval.Request) { r.Who.Actor = agentos.Agent("openai"); r.Author = agentos.Agent("openai") }, agentos.EDENIED},
		{"wrong hash", func(r *approval.Request) { r.Given = other.Hash }, agentos.ECONFLICT},
		{"malformed hash", func(r *approval.Request) { r.Given = "abc" }, agentos.EINVALID},
		{"missing hash", func(r *approval.Request) { r.Given = "" }, agentos.EINVALID},
		{"old plan", func(r *approval.Request) { r.Task.PlanHash = other.Hash; r.Given = p.Hash }, agentos.ECONFLICT},
		{"tampered plan", func(r *approval.Request) { r.Plan.Goal = "edited"; r.Given = r.Plan.Hash }, agentos.ECONFLICT},
		{"not waiting", func(r *approval.Request) { r.Task.State = agentos.StatePlanned }, agentos.ECONFLICT},
		{"policy changed since gating", func(r *approval.Request) { r.Current.PolicyHash = "sha256:pol2" }, agentos.ECONFLICT},
		{"not an approver", func(r *approval.Request) {
			r.Requirements = []approval.Requirement{{RuleID: "ci-config", Approvers: []agentos.Actor{"human:cy"}, Approvals: 1}}
		}, agentos.EDENIED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t)
			r := req(task, p, b, agentos.Human("bob"), anyHuman)
			tc.mutate(&r)
			_, err := s.Approve(t.Context(), r)
			if got := agentos.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("Approve error = %v (code %q), want code %q", err, got, tc.wantCode)
			}
			if list, _ := s.List(t.Context(), task.ID); len(list) != 0 {
				t.Errorf("a refused approval was recorded: %+v", list)
			}
		})
	}
}

func TestNofM(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	reqs := []approval.Requirement{{RuleID: "ci-config", Approvers: []agentos.Actor{"human:ann", "human:bob", "human:cy"}, Approvals: 2}}
	ctx := t.Context()
	err := approval.Check(ctx, s.DB, task, p, reqs, b, nil)
	if agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "2 more approvals for ci-config") {
		t.Fatalf("Check before approvals = %v, want awaiting_approval needing 2", err)
	}
	st, err := s.Approve(ctx, req(task, p, b, "human:bob", reqs))
	if err != nil || st.Satisfied || st.Rules[0].Have != 1 {
		t.Fatalf("first Approve = %+v, %v; want 1 of 2", st, err)
	}
	// The same human again does not count twice.
	st, err = s.Approve(ctx, req(task, p, b, "human:bob", reqs))
	if err != nil || !st.Already || st.Rules[0].Have != 1 {
		t.Fatalf("repeat Approve = %+v, %v; want Already and still 1 of 2", st, err)
	}
	if err := approval.Check(ctx, s.DB, task, p, reqs, b, nil); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "1 more approval for ci-config") {
		t.Fatalf("Check after one = %v, want awaiting 1 more", err)
	}
	st, err = s.Approve(ctx, req(task, p, b, "human:cy", reqs))
	if err != nil || !st.Satisfied {
		t.Fatalf("second Approve = %+v, %v; want satisfied", st, err)
	}
	if err := approval.Check(ctx, s.DB, task, p, reqs, b, nil); err != nil {
		t.Fatalf("Check after two = %v, want nil", err)
	}
}

func TestMultipleRules(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	reqs := []approval.Requirement{
		{RuleID: "ci-config", Approvers: []agentos.Actor{"human:ops"}, Approvals: 1},
		{RuleID: "secrets", Approvals: 1},
	}
	if _, err := s.Approve(t.Context(), req(task, p, b, "human:dev", reqs)); err != nil {
		t.Fatal(err)
	}
	err := approval.Check(t.Context(), s.DB, task, p, reqs, b, nil)
	if agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "for ci-config from human:ops") || strings.Contains(err.Error(), "for secrets") {
		t.Fatalf("Check = %v, want only ci-config from human:ops missing", err)
	}
	if _, err := s.Approve(t.Context(), req(task, p, b, "human:ops", reqs)); err != nil {
		t.Fatal(err)
	}
	if err := approval.Check(t.Context(), s.DB, task, p, reqs, b, nil); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
}

func TestStale(t *testing.T) {
	tests := []struct {
		name   string
		change func(b *approval.Binding)
		want   string
	}{
		{"base moved", func(b *approval.Binding) { b.Base = "base2" }, "the base moved from base1 to base2"},
		{"memory changed", func(b *approval.Binding) { b.MemoryHash = "sha256:mem2" }, "the memory changed"},
		{"policy changed", func(b *approval.Binding) { b.PolicyHash = "sha256:pol2" }, "the policy changed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t)
			task, p, b := fixture("a")
			if _, err := s.Approve(t.Context(), req(task, p, b, "human:bob", anyHuman)); err != nil {
				t.Fatal(err)
			}
			now := b
			tc.change(&now)
			err := approval.Check(t.Context(), s.DB, task, p, anyHuman, now, nil)
			if agentos.ErrorCode(err) != agentos.ECONFLICT || !strings.Contains(err.Error(), "approval is stale") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want conflict %q", err, tc.want)
			}
			st, err := s.Status(t.Context(), task.ID, p, anyHuman, now, nil)
			if err != nil || st.Satisfied || len(st.Stale) != 1 || st.Stale[0].Actor != "human:bob" || !strings.Contains(st.Stale[0].Why, tc.want) {
				t.Fatalf("Status = %+v, %v; want bob's approval listed as stale (%s)", st, err, tc.want)
			}
			if tc.name == "policy changed" {
				return // a policy change needs a re-plan, not a re-approval
			}
			if _, err := s.Approve(t.Context(), req(task, p, now, "human:bob", anyHuman)); err != nil {
				t.Fatalf("re-approve: %v", err)
			}
			if err := approval.Check(t.Context(), s.DB, task, p, anyHuman, now, nil); err != nil {
				t.Fatalf("Check after re-approval = %v, want nil", err)
			}
		})
	}
}

func TestReplanClears(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	if _, err := s.Approve(t.Context(), req(task, p, b, "human:bob", anyHuman)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Clear(t.Context(), task.ID, p.Hash, "re-planned"); err != nil || n != 0 {
		t.Fatalf("Clear keeping the plan = %d, %v; want 0", n, err)
	}
	n, err := s.Clear(t.Context(), task.ID, "", "re-planned")
	if err != nil || n != 1 {
		t.Fatalf("Clear = %d, %v; want 1", n, err)
	}
	if err := approval.Check(t.Context(), s.DB, task, p, anyHuman, b, nil); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("Check after clear = %v, want awaiting_approval", err)
	}
	list, err := s.List(t.Context(), task.ID)
	if err != nil || len(list) != 1 || list[0].Cleared != "re-planned" || list[0].ClearedAt.IsZero() || list[0].Actor != "human:bob" {
		t.Fatalf("List = %+v, %v; want the cleared approval kept as history", list, err)
	}
	// A new plan needs its own approval: the old one never counts for it.
	task2, p2, _ := fixture("b")
	if err := approval.Check(t.Context(), s.DB, task2, p2, anyHuman, b, nil); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("Check of new plan = %v, want awaiting_approval", err)
	}
}

func TestReject(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	r := req(task, p, b, "human:bob", anyHuman)
	if err := s.Reject(t.Context(), r); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("Reject without reason = %v, want invalid", err)
	}
	r.Comment = "touches CI"
	if err := s.Reject(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := approval.Check(t.Context(), s.DB, task, p, anyHuman, b, nil); agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "touches CI") {
		t.Fatalf("Check after reject = %v, want denied with the reason", err)
	}
	if _, err := s.Approve(t.Context(), req(task, p, b, "human:cy", anyHuman)); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("Approve after reject = %v, want conflict", err)
	}
	ra := r
	ra.Who.Actor = agentos.Agent("x")
	if err := s.Reject(t.Context(), ra); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("agent Reject = %v, want denied", err)
	}
}

func TestNoRequirements(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	if err := approval.Check(t.Context(), s.DB, task, p, nil, b, nil); err != nil {
		t.Fatalf("Check without requirements = %v, want nil", err)
	}
}

func signerFor(tb testing.TB, name string) (signers.Person, approval.Identity) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	p := signers.Person{Name: name, Keys: []ssh.PublicKey{s.PublicKey()}}
	return p, approval.Identity{Actor: agentos.Human(name), OSUser: "os-" + name, Sign: func(msg []byte) (*agentos.SignedStatement, error) {
		sig, err := signers.Sign(s, msg)
		return &agentos.SignedStatement{Statement: string(msg), Signature: sig, Namespace: signers.Namespace}, err
	}}
}

// TestSignedEvidence: with signers listed, only rows backed by a signed
// approval event of that very person count; a row written straight into the
// store (no event), and an unsigned decision, never do. Four eyes refuses
// the author, and a person whose principals name the author.
func TestSignedEvidence(t *testing.T) {
	s := mustStore(t)
	task, p, b := fixture("a")
	pa, alice := signerFor(t, "alice")
	pb, bob := signerFor(t, "bob")
	pc, cy := signerFor(t, "cy")
	pc.Principals = []string{"ann"} // cy is also the OS user ann, who requested the plan
	keys, err := signers.NewKeyring([]signers.Person{pa, pb, pc})
	if err != nil {
		t.Fatal(err)
	}
	ev := &approval.Evidence{Keys: keys, Authors: []agentos.Actor{task.Submitter}, FourEyes: true}
	two := []approval.Requirement{{RuleID: "ci-config", Approvals: 2}}
	r := req(task, p, b, "", two)
	r.Evidence = ev

	r.Who = approval.Identity{Actor: agentos.Human("alice")}
	if _, err := s.Approve(t.Context(), r); agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("unsigned Approve with signers listed = %v, want denied", err)
	}
	r.Who = cy
	if _, err := s.Approve(t.Context(), r); agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "distinct_from_author") {
		t.Fatalf("Approve by the requester's own principal = %v, want denied (four eyes)", err)
	}
	r.Who = alice
	if st, err := s.Approve(t.Context(), r); err != nil || st.Satisfied || st.Rules[0].Have != 1 {
		t.Fatalf("Approve(alice) = %+v, %v; want 1 of 2", st, err)
	}
	// bob's row is written straight into the store: no event proves it.
	forged := approval.Approval{Task: task.ID, Kind: approval.KindApprove, PlanID: p.ID, PlanHash: p.Hash, Binding: b, Actor: agentos.Human("bob"), Rules: []string{"ci-config"}}
	if err := s.DB.RecordApproval(t.Context(), forged, func([]approval.Approval) (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	err = approval.Check(t.Context(), s.DB, task, p, two, b, ev)
	if agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "the approval by human:bob does not count: no signed approval event") {
		t.Fatalf("Check with a forged row = %v, want awaiting approval naming bob's row", err)
	}
	// The same rows under a policy without signers still need their events.
	if err := approval.Check(t.Context(), s.DB, task, p, two, b, &approval.Evidence{}); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("solo Check with a forged row = %v, want awaiting approval", err)
	}
	r.Who = bob
	if st, err := s.Approve(t.Context(), r); err != nil || !st.Satisfied {
		t.Fatalf("Approve(bob) = %+v, %v; want satisfied", st, err)
	}
	if err := approval.Check(t.Context(), s.DB, task, p, two, b, ev); err != nil {
		t.Fatalf("Check after two signed approvals = %v", err)
	}
	// A signer removed from the policy no longer counts.
	k2, _ := signers.NewKeyring([]signers.Person{pa, pc})
	if err := approval.Check(t.Context(), s.DB, task, p, two, b, &approval.Evidence{Keys: k2}); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("Check after bob left the signers = %v, want awaiting approval", err)
	}
}

func passkeyFor(tb testing.TB, name, origin string) (signers.Person, *passkeytest.Authenticator, approval.Identity) {
	tb.Helper()
	a, err := passkeytest.New(origin)
	if err != nil {
		tb.Fatal(err)
	}
	p := signers.Person{Name: name, Passkeys: []signers.Passkey{a.Key}}
	return p, a, approval.Identity{Actor: agentos.Human(name), OSUser: "web:" + name, Sign: func(msg []byte) (*agentos.SignedStatement, error) {
		return &agentos.SignedStatement{Statement: string(msg), Signature: a.Assert(msg).Armor(), Namespace: signers.PasskeyNamespace, Key: "webauthn:" + a.Key.ID()}, nil
	}}
}

// TestPasskeyEvidence: a decision signed with a listed passkey counts like
// one signed with an SSH key, and admission verifies the assertion again:
// an approval event whose assertion was made on another origin (a phishing
// page) never counts, though the row and the event are in the store.
func TestPasskeyEvidence(t *testing.T) {
	const origin = "https://review.example.com"
	s := mustStore(t)
	task, p, b := fixture("a")
	pa, _, alice := passkeyFor(t, "alice", origin)
	pb, bobKey, bob := passkeyFor(t, "bob", origin)
	keys, err := signers.NewKeyring([]signers.Person{pa, pb})
	if err != nil {
		t.Fatal(err)
	}
	ev := &approval.Evidence{Keys: keys, Authors: []agentos.Actor{task.Submitter}, FourEyes: true}
	two := []approval.Requirement{{RuleID: "ci-config", Approvals: 2}}
	r := req(task, p, b, "", two)
	r.Evidence = ev
	r.Who = alice
	if st, err := s.Approve(t.Context(), r); err != nil || st.Rules[0].Have != 1 {
		t.Fatalf("Approve(alice, passkey) = %+v, %v; want 1 of 2", st, err)
	}
	// bob's row and event, with an assertion bob's authenticator made for
	// the right statement on another origin.
	msg := r.Unsigned(approval.KindApprove, agentos.Human("bob"), time.Now()).Encode()
	c := bobKey.Ceremony(msg)
	c.Origin = "https://review.example.com.evil.example"
	signed := &agentos.SignedStatement{Statement: string(msg), Signature: bobKey.AssertCeremony(c).Armor(), Namespace: signers.PasskeyNamespace}
	row := approval.Approval{Task: task.ID, Kind: approval.KindApprove, PlanID: p.ID, PlanHash: p.Hash, Binding: b, Actor: agentos.Human("bob"), Rules: []string{"ci-config"}}
	data := agentos.ApprovalEvent{Decision: approval.KindApprove, Plan: p.ID, PlanHash: p.Hash, Binding: b, Signed: signed}
	if err := s.DB.RecordApproval(t.Context(), row, func([]approval.Approval) (bool, error) { return true, nil },
		agentos.EventInput{Task: task.ID, Actor: agentos.Human("bob"), Kind: agentos.EventApproval, Data: data}); err != nil {
		t.Fatal(err)
	}
	err = approval.Check(t.Context(), s.DB, task, p, two, b, ev)
	if agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "the approval by human:bob does not count") || !strings.Contains(err.Error(), "origin") {
		t.Fatalf("Check with an assertion from another origin = %v, want awaiting approval naming bob's origin", err)
	}
	r.Who = bob
	if st, err := s.Approve(t.Context(), r); err != nil || !st.Satisfied {
		t.Fatalf("Approve(bob, passkey) = %+v, %v; want satisfied", st, err)
	}
	if err := approval.Check(t.Context(), s.DB, task, p, two, b, ev); err != nil {
		t.Fatalf("Check after two passkey approvals = %v", err)
	}
}
