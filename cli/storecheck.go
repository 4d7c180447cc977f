package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

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
// head (only the events added since). Read commands never write it.
//
// Before apply, the store must also be structurally whole. SQLite's
// quick_check reads the whole file, so its cost grows with every task the
// store has kept; it runs only when the store's files are not the bytes an
// AgentOS command that held them whole left (files: their identity, size
// and times, recorded when such a command ends), or when the last full
// check is older than fullCheckEvery or the database has doubled since
// (checked_at, checked_size): the amortised cost per run stays flat.
//
// It is a fault detector, not a trust anchor: someone who edits both the
// database and this file is the audit chain's adversary (`agentos audit
// verify` and the signed anchors), not this file's.
const anchorFile = "store.json"

type storeAnchor struct {
	Store string `json:"store"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash,omitempty"`
	// Files fingerprints the store's files as the last command that held
	// them whole left them: a write by anything else changes it.
	Files string `json:"files,omitempty"`
	// CheckedAt and CheckedSize are when the last full structural check
	// passed and the database's size then.
	CheckedAt   time.Time `json:"checked_at,omitzero"`
	CheckedSize int64     `json:"checked_size,omitempty"`
}

// fullCheckEvery bounds how long a store goes without a full structural
// check: faults no fingerprint shows (a disk that rots in place, a write by
// another program while an AgentOS command has the store open) are found
// within a day of runs.
const fullCheckEvery = 24 * time.Hour

// storeGuard checks one open store against its repository's anchor.
type storeGuard struct {
	db    agentos.Store
	integ agentos.StoreIntegrity
	path  string // .agentos/store.json
	name  string // the store, as named in messages
	id    string
	// files are the store's files (SQLite: the database and its WAL).
	files []string
	// mu orders a worker's checks and the ends of its runs (seal).
	mu sync.Mutex
	// whole: this process holds the files whole: they matched the anchor's
	// fingerprint when it opened them, or a full check passed since; what
	// changed them since then is this process's own writes.
	whole bool
	// sealed is the files' fingerprint when this process last knew them
	// whole and unchanged since (a check passed, a worker's run ended); a
	// later check that finds them changed reads them whole again.
	sealed string
	// sinceOpen: the next check may trust the files as they were when the
	// command opened them (a one-shot command's own writes changed them
	// since); a worker gives that up, and compares with sealed instead.
	sinceOpen bool
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
func guardStore(ctx context.Context, db agentos.Store, dir, name string, files []string) (g *storeGuard, err error) {
	defer func() { err = unreadable(err, name) }()
	integ, ok := db.(agentos.StoreIntegrity)
	if !ok {
		return nil, nil
	}
	g = &storeGuard{db: db, integ: integ, path: filepath.Join(dir, anchorFile), name: name, files: files}
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
	if fp := fingerprint(g.files); fp != "" && fp == a.Files {
		g.whole, g.sealed, g.sinceOpen = true, fp, true
	}
	if a.Store != id {
		return nil, notThisStore(name, id, g.path, a.Store)
	}
	return g, g.hasEvent(ctx, a)
}

// notThisStore is the refusal of a store that is not the one the anchor at
// path names.
func notThisStore(name, id, path, anchored string) error {
	return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store %s is not this repository's: it is store %s, and %s names store %s (replaced by another repository's or a new store): restore this repository's store from a backup, or remove %s to adopt this one", name, id, path, anchored, path)
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

// verify proves the store whole before a run: its structure (cheaply when
// its files are as AgentOS left them, see fullCheck), the anchor still
// holds, and the chain from the anchor to the head verifies; then the
// anchor moves to the head.
func (g *storeGuard) verify(ctx context.Context) (err error) {
	defer func() { err = unreadable(err, g.name) }()
	g.mu.Lock()
	defer g.mu.Unlock()
	a, err := g.read()
	if err != nil {
		return err
	}
	fp := fingerprint(g.files)
	if g.fullCheck(a, fp) {
		if err := g.integ.QuickCheck(ctx); err != nil {
			return err
		}
		g.whole = true
		if a != nil && a.Store == g.id {
			a.CheckedAt, a.CheckedSize = time.Now().UTC().Truncate(time.Second), fileSize(g.files)
			if err := g.write(*a); err != nil {
				return err
			}
		}
	}
	g.sealed, g.sinceOpen = fp, false
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

// fullCheck reports whether the store's structure must be read whole
// before this run: always for a store that keeps no files of its own (a
// PostgreSQL store's check costs nothing), when the files are not the
// bytes a command that held them whole left, and when the last full check
// is older than fullCheckEvery or the database has doubled since (so the
// reads add up to at most twice the store per period, whatever the number
// of runs).
func (g *storeGuard) fullCheck(a *storeAnchor, fp string) bool {
	if fp == "" || a == nil || a.Store != g.id {
		return true
	}
	held := g.whole && g.sinceOpen || fp == g.sealed || fp == a.Files
	if !held {
		return true
	}
	if a.CheckedAt.IsZero() || time.Since(a.CheckedAt) > fullCheckEvery || time.Since(a.CheckedAt) < -time.Minute {
		return true
	}
	return fileSize(g.files) > 2*a.CheckedSize
}

// seal records the store's files as this process leaves them, when it
// holds them whole: the next command that finds them so skips the full
// structural check. Called when a command has closed the store (its last
// checkpoint written) and when a worker's run has ended.
func (g *storeGuard) seal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.whole || len(g.files) == 0 {
		return
	}
	fp := fingerprint(g.files)
	if fp == "" {
		return
	}
	g.sealed = fp
	a, err := g.read()
	if err != nil || a == nil || a.Store != g.id || a.Files == fp {
		return
	}
	a.Files = fp
	g.write(*a) // best effort: a missing seal costs the next run a full check
}

// longLived makes every check compare the files with what this process
// sealed (a worker: it runs for hours, and each run's check must see what
// changed since the last one ended), not with how they were at open.
func (g *storeGuard) longLived() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.whole && g.sinceOpen {
		g.sealed = fingerprint(g.files)
	}
	g.sinceOpen = false
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

// storeDamage names SQLite's own words for a damaged file, met wherever a
// command read the store (planning reads pages the check before apply has
// not seen yet), as the one-line store error with how to restore.
func (f *Factory) storeDamage(err error) error {
	if agentos.ErrorCode(err) != agentos.EINTERNAL {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, "database disk image is malformed") && !strings.Contains(msg, "file is not a database") {
		return err
	}
	name := "in .agentos"
	if f.guard != nil {
		name = f.guard.name
	}
	return agentos.WrapError(agentos.ECONFLICT, err, "the AgentOS store %s is damaged (%s): restore it from a backup, or run `agentos audit verify` to see where it breaks", name, agentos.ErrorMessage(err))
}

// fileSize is the database's size (the first of files), 0 when unknown.
func fileSize(files []string) int64 {
	if len(files) == 0 {
		return 0
	}
	st, err := os.Stat(files[0])
	if err != nil {
		return 0
	}
	return st.Size()
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
	next := *a
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
