package memory

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// Audited is a Service whose every write (add, edit, remove, promote) is
// also an event in the audit chain, memory.write, with who made it: the
// memory future plans are made with is part of what governs them.
//
// The write comes first and its event right after: the index and the
// audit log are separate transactions, so a crash between them leaves a
// write without its event, never an event for a write that did not happen.
type Audited struct {
	Service
	Log agentos.AuditStore
	// Client names the memory-service client making the writes, if any.
	Client string
}

var _ Service = (*Audited)(nil)

// WithAudit returns svc with its writes audited in log.
func WithAudit(svc Service, log agentos.AuditStore) *Audited {
	return &Audited{Service: svc, Log: log}
}

func (a *Audited) audit(ctx context.Context, actor string, ev agentos.MemoryWriteEvent) error {
	ev.Client = a.Client
	if actor == "" {
		actor = string(agentos.System)
	}
	_, err := a.Log.Append(ctx, agentos.EventInput{Actor: agentos.Actor(actor), Kind: agentos.EventMemoryWrite, Data: ev})
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "memory write %s %s was made but not audited: %v", ev.Op, ev.Item, err)
	}
	return nil
}

func itemEvent(op string, it agentos.MemoryItem, supersedes string) agentos.MemoryWriteEvent {
	return agentos.MemoryWriteEvent{Op: op, Item: it.ID, Supersedes: supersedes, Kind: it.Kind, Author: it.Author,
		Source: it.Source, TextHash: canonjson.Sum([]byte(it.Text))}
}

// Add implements Service.
func (a *Audited) Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	it, err := a.Service.Add(ctx, item)
	if err != nil {
		return it, err
	}
	// Text that is no one's (command output) was written by AgentOS; the
	// event's data still names its author.
	actor := it.Author
	if a := agentos.Actor(actor); !a.IsHuman() && !a.IsAgent() {
		actor = string(agentos.System)
	}
	return it, a.audit(ctx, actor, itemEvent("add", it, ""))
}

// Edit implements Service.
func (a *Audited) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	it, err := a.Service.Edit(ctx, id, text, actor)
	if err != nil {
		return it, err
	}
	return it, a.audit(ctx, actor, itemEvent("edit", it, id))
}

// Remove implements Service.
func (a *Audited) Remove(ctx context.Context, id, actor string) error {
	if err := a.Service.Remove(ctx, id, actor); err != nil {
		return err
	}
	return a.audit(ctx, actor, agentos.MemoryWriteEvent{Op: "remove", Supersedes: id})
}

// Promote implements Service.
func (a *Audited) Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error) {
	it, err := a.Service.Promote(ctx, id, kind, text, actor)
	if err != nil {
		return it, err
	}
	return it, a.audit(ctx, actor, itemEvent("promote", it, id))
}
