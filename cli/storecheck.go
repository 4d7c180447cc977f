package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
)

// The store anchor, .agentos/store.json, is what a repository knows about
// its store from outside it: the store's identity (made by `agentos init`)
// and the last audit event a command of this repository verified in it.
//
// Every command checks it when it opens the store (two indexed reads): a
// store swapped for another repository's or a fresh one has another
// identity; a store that lost committed transactions (a deleted WAL, an
// older backup put back, a disk that dropped writes) no longer has that
// event, or has another one in its place. Write commands move the anchor
// forward when they close, after verifying the chain from the anchor to the
// head (only the events added since). Before apply, the store also runs its
// own structural check (QuickCheck). Read commands never write it.
//
// It is a fault detector, not a trust anchor: someone who edits both the
// database and this file is the audit chain's adversary (`agentos audit
// verify` and the signed anchors), not this file's.
const anchorFile = "store.json"

type storeAnchor struct {
	Store string `json:"store"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash,omitempty"`
}

// storeGuard checks one open store against its repository's anchor.
type storeGuard struct {
	db    agentos.Store
	integ agentos.StoreIntegrity
	path  string // .agentos/store.json
	name  string // the store, as named in messages
	id    string
	// files are the store's files (SQLite: the database and its WAL);
	// checked is their fingerprint when QuickCheck last passed, so a
	// worker polling an unchanged store does not re-read it every pass.
	files   []string
	checked string
	// anchors is the evidence outside the store (anchor.go): checked
	// before every run, extended by a signed checkpoint whenever the
	// anchor moves.
	anchors *anchors
	// adopted: there was no store.json, so only that evidence can tell
	// this store from a replaced one.
	adopted bool
}

// guardStore checks db against the anchor in dir; nil guard for a store
// that keeps no identity (an in-memory one).
func guardStore(ctx context.Context, db agentos.Store, dir, name string) (g *storeGuard, err error) {
	defer func() { err = unreadable(err, name) }()
	integ, ok := db.(agentos.StoreIntegrity)
	if !ok {
		return nil, nil
	}
	g = &storeGuard{db: db, integ: integ, path: filepath.Join(dir, anchorFile), name: name}
	id, err := integ.Identity(ctx)
	if err != nil {
		return nil, err
	}
	g.id = id
	a, err := g.read()
	if err != nil {
		return g, err
	}
	if a == nil {
		g.adopted = true
		return g, nil
	}
	if a.Store != id {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the AgentOS store %s is not this repository's: it is store %s, and %s names store %s (replaced by another repository's or a new store): restore this repository's store from a backup, or remove %s to adopt this one", name, id, g.path, a.Store, g.path)
	}
	return g, g.hasEvent(ctx, a)
}

func (g *storeGuard) read() (*storeAnchor, error) {
	b, err := os.ReadFile(g.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // never recorded: the first command after an upgrade adopts the store
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", g.path, err)
	}
	var a storeAnchor
	if err := json.Unmarshal(b, &a); err != nil || a.Store == "" {
		return nil, agentos.Errorf(agentos.ECONFLICT, "%s does not parse (%v): remove it to adopt the store as it is", g.path, err)
	}
	return &a, nil
}

// hasEvent checks that the event the anchor recorded is still in the chain,
// unchanged.
func (g *storeGuard) hasEvent(ctx context.Context, a *storeAnchor) error {
	if a.Seq <= 0 {
		return nil
	}
	evs, err := g.db.Events(ctx, agentos.EventFilter{FromSeq: a.Seq, Limit: 1})
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].Seq != a.Seq {
		head, _, _ := g.db.ChainHead(ctx)
		return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store %s lost committed transactions: its audit chain ends at event %d, but this repository verified event %d (a deleted WAL, an older backup put back, or a disk that dropped writes): restore it from a backup taken after event %d, or run `agentos audit verify` to see where it breaks; remove %s to accept the store as it is", g.name, head, a.Seq, a.Seq, g.path)
	}
	if evs[0].Hash != a.Hash {
		return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store %s was rewritten: audit event %d is not the one this repository verified (hash %s, recorded %s): restore it from a backup, or run `agentos audit verify` to see where it breaks", g.name, a.Seq, evs[0].Hash, a.Hash)
	}
	return nil
}

// verify proves the store whole before a run: its own structural check,
// the anchor still holds, and the chain from the anchor to the head
// verifies; then the anchor moves to the head.
func (g *storeGuard) verify(ctx context.Context) (err error) {
	defer func() { err = unreadable(err, g.name) }()
	if fp := g.fingerprint(); fp == "" || fp != g.checked {
		if err := g.integ.QuickCheck(ctx); err != nil {
			return err
		}
		g.checked = fp
	}
	// The newest checkpoint, ref checkpoint and commit trailer name events
	// the chain must still have: a store rewritten and re-hashed, cut
	// short or swapped (with its store.json) stops here.
	if g.anchors != nil {
		if err := g.anchors.checkHead(ctx, g.db, true); err != nil {
			return err
		}
	}
	return g.advance(ctx)
}

// unreadable names a store read that failed below AgentOS (SQLite's
// "malformed", an I/O error) as one line with how to restore.
func unreadable(err error, name string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*agentos.Error](err); ok {
		return err
	}
	return agentos.WrapError(agentos.ECONFLICT, err, "the AgentOS store %s cannot be read (%v): restore it from a backup, or run `agentos audit verify` to see where it breaks", name, err)
}

// fingerprint identifies the store files' current content by size and
// modification time (nanoseconds); "" when there are none to stat.
func (g *storeGuard) fingerprint() string {
	fp := ""
	for _, p := range g.files {
		st, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fp += fmt.Sprintf("%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
	}
	return fp
}

// advance verifies the events after the anchor and records the head.
func (g *storeGuard) advance(ctx context.Context) error {
	a, err := g.read()
	if err != nil {
		return err
	}
	if a == nil {
		a = &storeAnchor{Store: g.id}
	}
	if a.Store != g.id {
		return agentos.Errorf(agentos.ECONFLICT, "%s names store %s, not the open store %s: another command adopted another store meanwhile", g.path, a.Store, g.id)
	}
	if err := g.hasEvent(ctx, a); err != nil {
		return err
	}
	check := agentos.ChainCheckFrom(a.Seq, a.Hash)
	evs, err := g.db.Events(ctx, agentos.EventFilter{FromSeq: a.Seq + 1})
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := check.Next(e); err != nil {
			return agentos.WrapError(agentos.ECONFLICT, err, "the AgentOS store %s is damaged: %s: restore it from a backup, or run `agentos audit verify` to see where it breaks", g.name, agentos.ErrorMessage(err))
		}
	}
	if len(evs) == 0 && a.Seq > 0 {
		return nil // nothing new to record
	}
	next := storeAnchor{Store: g.id, Seq: a.Seq, Hash: a.Hash}
	if n := len(evs); n > 0 {
		next.Seq, next.Hash = evs[n-1].Seq, evs[n-1].Hash
	}
	if err := g.write(next); err != nil {
		return err
	}
	// The anchor moved: sign the new head (the end of a run, and of every
	// write command). No audit key yet (a repository initialised before
	// audit keys) checkpoints nothing; `agentos init` makes one. A
	// checkpoint that cannot be made (a key that is not the pinned one, a
	// chain that contradicts the last checkpoint) is said, not fatal: the
	// check before every run is what refuses a store that is not whole.
	if g.anchors != nil {
		if _, _, err := g.anchors.checkpoint(ctx, g.db, false); err != nil && agentos.ErrorCode(err) != agentos.ENOTFOUND {
			g.anchors.warn("no checkpoint written: " + agentos.ErrorMessage(err))
		}
	}
	return nil
}

// write replaces the anchor atomically. Two commands closing at once may
// leave either head: both were verified, so neither is a false alarm.
func (g *storeGuard) write(a storeAnchor) error {
	b, _ := json.Marshal(a)
	tmp := fmt.Sprintf("%s.%d.tmp", g.path, os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		os.Remove(tmp)
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot record the store anchor %s: %v", g.path, err)
	}
	if err := os.Rename(tmp, g.path); err != nil {
		os.Remove(tmp)
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot record the store anchor %s: %v", g.path, err)
	}
	return nil
}

// newAnchor records a store init just created, replacing any anchor of the
// store it replaces.
func newAnchor(ctx context.Context, db agentos.Store, dir string) error {
	integ, ok := db.(agentos.StoreIntegrity)
	if !ok {
		return nil
	}
	id, err := integ.Identity(ctx)
	if err != nil {
		return err
	}
	seq, hash, err := db.ChainHead(ctx)
	if err != nil {
		return err
	}
	g := &storeGuard{path: filepath.Join(dir, anchorFile)}
	a := storeAnchor{Store: id, Seq: seq}
	if seq > 0 {
		a.Hash = hash
	}
	return g.write(a)
}
