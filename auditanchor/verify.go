package auditanchor

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"

	"github.com/agentos/agentos"
)

// Witness is evidence from outside the database of one event of the chain:
// a checkpoint, a commit trailer (both name seq and hash) or a ReviewPack
// (its chain head: a hash, Seq 0).
type Witness struct {
	Seq   int64
	Hash  string
	Where string
}

// Checker holds an audit chain, streamed once in sequence order, to the
// witnesses outside it and to the store's own tables: every witness names
// an event the chain has, unchanged (a rewrite and re-hash, a truncated
// tail or a deleted task re-chained all move or drop such events); every
// task's state is where its audited transitions lead, each allowed by the
// transition table; every approval row has its audit event.
//
// Feed Event every event after the chain check, then call Finish. The
// per-event work is a slice index and, for the few transition and approval
// events, a map update, so it adds little to the chain's own cost.
type Checker struct {
	bySeq  []Witness
	byHash map[string]string
	next   int

	states    map[string]agentos.State
	decisions map[decisionKey]int
	lastSeq   int64

	// Problems are the inconsistencies found, in the order found.
	Problems []string
	// Witnessed counts the witnesses that matched.
	Witnessed int
}

type decisionKey struct {
	task, planHash string
	actor          agentos.Actor
	kind           agentos.ApprovalKind
}

// NewChecker holds the chain to ws.
func NewChecker(ws []Witness) *Checker {
	c := &Checker{byHash: map[string]string{}, states: map[string]agentos.State{}, decisions: map[decisionKey]int{}}
	for _, w := range ws {
		if w.Seq == 0 {
			if w.Hash != "" && w.Hash != agentos.GenesisHash {
				c.byHash[w.Hash] = w.Where
			}
			continue
		}
		c.bySeq = append(c.bySeq, w)
	}
	slices.SortStableFunc(c.bySeq, func(a, b Witness) int { return cmp.Compare(a.Seq, b.Seq) })
	return c
}

func (c *Checker) problem(format string, args ...any) {
	c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
}

// Event takes the next event of the chain and its decoded payload (nil
// when it did not decode; the payload check reports that).
func (c *Checker) Event(e agentos.Event, payload any) {
	c.lastSeq = e.Seq
	for c.next < len(c.bySeq) && c.bySeq[c.next].Seq <= e.Seq {
		w := c.bySeq[c.next]
		c.next++
		switch {
		case w.Seq < e.Seq:
			c.problem("%s names audit event %d, which the chain lacks", w.Where, w.Seq)
		case w.Hash != e.Hash:
			c.problem("%s names audit event %d with hash %s, but the chain's event %d hashes to %s: the chain was rewritten", w.Where, w.Seq, w.Hash, e.Seq, e.Hash)
		default:
			c.Witnessed++
		}
	}
	if len(c.byHash) > 0 {
		if _, ok := c.byHash[e.Hash]; ok {
			delete(c.byHash, e.Hash)
			c.Witnessed++
		}
	}
	switch p := payload.(type) {
	case *agentos.TaskCreatedEvent:
		if _, seen := c.states[e.Task]; seen {
			c.problem("task %s is created a second time at audit event %d", e.Task, e.Seq)
		}
		c.states[e.Task] = agentos.StateCreated
	case *agentos.TransitionEvent:
		cur, seen := c.states[e.Task]
		switch {
		case !seen:
			c.problem("task %s moves %s -> %s at audit event %d with no task.created event before it", e.Task, p.From, p.To, e.Seq)
		case cur != p.From:
			c.problem("task %s moves %s -> %s at audit event %d, but its audited state was %s", e.Task, p.From, p.To, e.Seq, cur)
		case !agentos.CanTransition(p.From, p.To):
			c.problem("task %s moves %s -> %s at audit event %d: the transition table does not allow it", e.Task, p.From, p.To, e.Seq)
		}
		c.states[e.Task] = p.To
		if p.Decision == string(agentos.KindReject) {
			c.decisions[decisionKey{e.Task, p.PlanHash, e.Actor, agentos.KindReject}]++
		}
	case *agentos.ApprovalEvent:
		c.decisions[decisionKey{e.Task, p.PlanHash, e.Actor, p.Decision}]++
	}
}

// Finish checks what only the end of the chain can tell: witnesses of
// events after its last one (a truncated tail), ReviewPack heads it never
// had, and the store's tasks and approval rows against the audited ones.
func (c *Checker) Finish(tasks []*agentos.Task, approvals []agentos.Approval) {
	for _, w := range c.bySeq[c.next:] {
		c.problem("%s names audit event %d, but the chain ends at event %d: its tail was cut off", w.Where, w.Seq, c.lastSeq)
	}
	c.next = len(c.bySeq)
	for h, where := range sortedMap(c.byHash) {
		c.problem("%s names chain head %s, which the chain lacks: the chain was rewritten", where, h)
	}
	inStore := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		inStore[t.ID] = true
		got, ok := c.states[t.ID]
		switch {
		case !ok:
			c.problem("task %s (%s) has no audit event: it was made outside the chain, or its events were removed", t.ID, t.State)
		case got != t.State:
			c.problem("task %s is %s in the store, but its audited transitions end at %s: its state was set outside the chain", t.ID, t.State, got)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.states)) {
		if !inStore[id] {
			c.problem("task %s has audit events but is missing from the store: it was deleted", id)
		}
	}
	for _, a := range approvals {
		k := decisionKey{a.Task, a.PlanHash, a.Actor, a.Kind}
		if c.decisions[k] == 0 {
			c.problem("the %s of plan %s of task %s by %s (approval row %d) has no audit event: it was written outside the chain", a.Kind, a.PlanHash, a.Task, a.Actor, a.ID)
			continue
		}
		c.decisions[k]--
	}
}

// CheckSignatures verifies every checkpoint's signature (against pinned
// when the policy pins a key) and that each names store: a checkpoint of
// another store vouches for nothing here.
func CheckSignatures(es []Entry, pinned ed25519.PublicKey, store string) []string {
	var probs []string
	for _, e := range es {
		if err := e.Verify(pinned); err != nil {
			probs = append(probs, e.Where+": "+agentos.ErrorMessage(err))
			continue
		}
		if store != "" && e.Store != store {
			probs = append(probs, fmt.Sprintf("%s is a checkpoint of store %s, not of this store %s: the store was replaced", e.Where, e.Store, store))
		}
	}
	return probs
}

// sortedMap iterates m by key, so messages come out in one order.
func sortedMap(m map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
