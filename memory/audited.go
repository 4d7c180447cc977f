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
// Over a local Store (the store's own memory, or the memory service's), the
// write and its event are one transaction: the index appends the event to
// the chain of the store it lives in, so neither is ever kept without the
// other. Over any other Service (one that keeps its memory elsewhere) the
// write comes first and its event right after, in Log: a crash between them
// leaves a write without its event, never an event for a write that did not
// happen.
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

// event is the audit event of one write (it is nil for a remove).
func (a *Audited) event(op string, it *agentos.MemoryItem, supersedes, actor string) agentos.EventInput {
	ev := agentos.MemoryWriteEvent{Op: op, Supersedes: supersedes}
	if it != nil {
		ev = itemEvent(op, *it, supersedes)
	}
	ev.Client = a.Client
	if op == "add" {
		// Text that is no one's (command output) was written by AgentOS;
		// the event's data still names its author.
		actor = it.Author
		if a := agentos.Actor(actor); !a.IsHuman() && !a.IsAgent() {
			actor = string(agentos.System)
		}
	}
	if actor == "" {
		actor = string(agentos.System)
	}
	return agentos.EventInput{Actor: agentos.Actor(actor), Kind: agentos.EventMemoryWrite, Data: ev}
}

// local returns the local Store writes go through with their events in
// the same transaction, or nil when the Service is not one.
func (a *Audited) local() *Store {
	st, ok := a.Service.(*Store)
	if !ok {
		return nil
	}
	c := *st
	c.audit = a.event
	return &c
}

func (a *Audited) audit(ctx context.Context, ev agentos.EventInput) error {
	if _, err := a.Log.Append(ctx, ev); err != nil {
		d, _ := ev.Data.(agentos.MemoryWriteEvent)
		return agentos.WrapError(agentos.EINTERNAL, err, "memory write %s %s was made but not audited: %v", d.Op, d.Item, err)
	}
	return nil
}

func itemEvent(op string, it agentos.MemoryItem, supersedes string) agentos.MemoryWriteEvent {
	return agentos.MemoryWriteEvent{Op: op, Item: it.ID, Supersedes: supersedes, Kind: it.Kind, Author: it.Author,
		Source: it.Source, TextHash: canonjson.Sum([]byte(it.Text))}
}

// Add implements Service.
func (a *Audited) Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	if st := a.local(); st != nil {
		return st.Add(ctx, item)
	}
	it, err := a.Service.Add(ctx, item)
	if err != nil {
		return it, err
	}
	return it, a.audit(ctx, a.event("add", &it, "", ""))
}

// Edit implements Service.
func (a *Audited) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	if st := a.local(); st != nil {
		return st.Edit(ctx, id, text, actor)
	}
	it, err := a.Service.Edit(ctx, id, text, actor)
	if err != nil {
		return it, err
	}
	return it, a.audit(ctx, a.event("edit", &it, id, actor))
}

// Remove implements Service.
func (a *Audited) Remove(ctx context.Context, id, actor string) error {
	if st := a.local(); st != nil {
		return st.Remove(ctx, id, actor)
	}
	if err := a.Service.Remove(ctx, id, actor); err != nil {
		return err
	}
	return a.audit(ctx, a.event("remove", nil, id, actor))
}

// Promote implements Service.
func (a *Audited) Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error) {
	if st := a.local(); st != nil {
		return st.Promote(ctx, id, kind, text, actor)
	}
	it, err := a.Service.Promote(ctx, id, kind, text, actor)
	if err != nil {
		return it, err
	}
	return it, a.audit(ctx, a.event("promote", &it, id, actor))
}
