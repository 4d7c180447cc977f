package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditanchor"
	"github.com/agentos/agentos/auditkey"
	"github.com/agentos/agentos/gitrepo"
)

// pubFile, beside store.json, records the audit key's public half when
// init makes or loads it: the pin of last resort. The committed policy's
// audit.public_key is the pin a rewrite of .agentos/ cannot swap.
const pubFile = "audit.pub"

// anchors holds one store to the evidence of its audit chain kept outside
// it (package auditanchor) and extends that evidence: the checkpoint log,
// the ref refs/agentos/audit and the target's AgentOS-Audit trailers.
type anchors struct {
	f       *Factory
	dir     string        // .agentos
	repo    *gitrepo.Repo // nil outside a repository
	id      string        // the store's identity
	keyFile string        // audit.key_file
	pinned  string        // audit.public_key
	ref     bool          // audit.ref
	target  string

	key    *auditkey.Key
	keyErr error
	warned bool
}

func (f *Factory) newAnchors(ctx context.Context, dir, id string) *anchors {
	a := &anchors{f: f, dir: dir, id: id}
	if r, err := f.Repo(ctx); err == nil {
		a.repo = r
	}
	if cfg, err := f.ConfigUnchecked(ctx); err == nil {
		a.keyFile, a.pinned, a.ref, a.target = cfg.Audit.KeyFile, cfg.Audit.PublicKey, cfg.Audit.Ref, cfg.Target
	}
	return a
}

func (a *anchors) git() auditanchor.Git {
	return auditanchor.Git{Repo: a.repo, Identity: agentos.CommitIdentity{Name: "AgentOS", Email: "agentos@localhost"}}
}

// warn says once what could not be anchored.
func (a *anchors) warn(msg string) {
	if a.warned {
		return
	}
	a.warned = true
	fmt.Fprintf(a.f.IO.ErrOut, "agentos: %s\n", msg)
}

func (a *anchors) logPath() string { return auditanchor.LogPath(a.dir) }

// loadKey loads the audit key once (ENOTFOUND: none was made).
func (a *anchors) loadKey() (*auditkey.Key, error) {
	if a.key != nil || a.keyErr != nil {
		return a.key, a.keyErr
	}
	path, err := auditkey.Resolve(a.keyFile, a.id)
	if err == nil {
		a.key, err = auditkey.Load(path)
	}
	a.keyErr = err
	return a.key, err
}

// pin is the key checkpoints must be signed by and what pins it; nil when
// nothing does (each checkpoint is then checked against the key it names).
func (a *anchors) pin() (ed25519.PublicKey, string, error) {
	if a.pinned != "" {
		pub, err := auditkey.ParsePublic(a.pinned)
		return pub, "audit.public_key in " + agentos.PolicyFile, err
	}
	b, err := os.ReadFile(filepath.Join(a.dir, pubFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", pubFile, err)
	}
	key, store := splitPub(string(b))
	if store != a.id {
		return nil, "", nil // recorded for another store (one this clone no longer uses)
	}
	pub, err := auditkey.ParsePublic(key)
	if err != nil {
		return nil, "", agentos.Errorf(agentos.ECONFLICT, "%s does not parse: pin the audit key with audit.public_key in %s", filepath.Join(a.dir, pubFile), agentos.PolicyFile)
	}
	return pub, filepath.Join(agentos.StateDir, pubFile) + " only (not pinned in " + agentos.PolicyFile + ": set audit.public_key)", nil
}

// checkHead holds the store to the newest evidence outside it: the last
// checkpoint of the log and, when full, the newest checkpoint of the ref
// and the newest AgentOS-Audit trailer of the target. Each must name an
// event the chain has, unchanged, and a checkpoint must be this store's
// and verify. A store that was truncated, rewritten and re-hashed, or
// replaced (with its store.json) fails here, before anything runs.
func (a *anchors) checkHead(ctx context.Context, db agentos.Store, full bool) error {
	pub, _, err := a.pin()
	if err != nil {
		return err
	}
	var cps []auditanchor.Entry
	last, err := auditanchor.Last(a.logPath())
	if err != nil {
		return err
	}
	if last != nil {
		last.Where = filepath.Join(agentos.StateDir, last.Where)
		cps = append(cps, *last)
	}
	var trs []auditanchor.Trailer
	if full && a.repo != nil {
		g := a.git()
		if es, err := g.ReadRef(ctx, 1); err == nil {
			cps = append(cps, es...)
		} else {
			return err
		}
		if a.target != "" {
			since := ""
			if first, err := auditanchor.First(a.logPath()); err == nil && first != nil && first.Seq == 0 && first.Store == a.id && first.Verify(pub) == nil {
				since = first.Since // trailers before it are an earlier store's
			}
			// The newest trailer of a task this store recorded: commits
			// another clone made with its own store (pulled into the
			// target) name that store's chain. `audit verify` holds the
			// chain to every trailer. Among the newest 100 commits only:
			// a walk back to since would grow with every task.
			recent, err := g.RecentTrailers(ctx, a.target, since, 100)
			if err != nil {
				return err
			}
			for _, t := range recent {
				if _, err := db.Task(ctx, t.Task); err == nil {
					trs = append(trs, t)
					break
				}
			}
		}
	}
	for _, c := range cps {
		if err := c.Verify(pub); err != nil {
			return agentos.Errorf(agentos.ECONFLICT, "%s: %s: restore the checkpoint from a copy (the ref pushed elsewhere), or run `agentos audit verify` to see every inconsistency", c.Where, agentos.ErrorMessage(err))
		}
		if c.Store != a.id {
			if c.Seq == 0 {
				continue // a retired store's first checkpoint, before init --new-store wrote this one's
			}
			return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store is not this repository's: %s vouches for store %s, the open store is %s (replaced by another or a new store): restore this repository's store from a backup (`agentos init --new-store` starts a new one on purpose)", c.Where, c.Store, a.id)
		}
		if err := holds(ctx, db, c.Seq, c.Head, c.Where); err != nil {
			return err
		}
	}
	for _, t := range trs {
		if err := holds(ctx, db, t.Seq, t.Hash, "commit "+t.Commit[:12]+" on "+a.target); err != nil {
			return err
		}
	}
	return nil
}

// holds checks that the chain has event seq with hash.
func holds(ctx context.Context, db agentos.Store, seq int64, hash, where string) error {
	if seq <= 0 {
		return nil
	}
	evs, err := db.Events(ctx, agentos.EventFilter{FromSeq: seq, Limit: 1})
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		head, _, _ := db.ChainHead(ctx)
		return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store lost audit events: %s names event %d, but the chain ends at event %d (a truncated, deleted or older store): restore it from a backup taken after event %d, or run `agentos audit verify` to see every inconsistency", where, seq, head, seq)
	}
	if evs[0].Hash != hash {
		return agentos.Errorf(agentos.ECONFLICT, "the AgentOS store's audit chain was rewritten: %s names event %d with hash %s, the store's event %d hashes to %s: restore it from a backup, or run `agentos audit verify` to see every inconsistency", where, seq, hash, seq, evs[0].Hash)
	}
	return nil
}

// checkpoint signs the chain head into the log, and into the ref when
// toRef or audit.ref says so. It first holds the store to the last
// checkpoint: a chain that contradicts it is never vouched for. With no
// audit key (a repository initialised before audit keys) it is ENOTFOUND.
func (a *anchors) checkpoint(ctx context.Context, db agentos.Store, toRef bool) (*auditanchor.Checkpoint, string, error) {
	key, err := a.loadKey()
	if err != nil {
		return nil, "", err
	}
	if pub, _, err := a.pin(); err != nil {
		return nil, "", err
	} else if pub != nil && !pub.Equal(key.Public) {
		return nil, "", agentos.Errorf(agentos.ECONFLICT, "the audit key %s is not the pinned one (%s): its checkpoints would not verify; set audit.key_file to the pinned key", key.Path, auditkey.PublicString(pub))
	}
	if err := a.checkHead(ctx, db, false); err != nil {
		return nil, "", err
	}
	seq, head, err := db.ChainHead(ctx)
	if err != nil {
		return nil, "", err
	}
	var c auditanchor.Checkpoint
	last, err := auditanchor.Last(a.logPath())
	if err != nil {
		return nil, "", err
	}
	if last != nil && last.Store == a.id && last.Seq == seq && last.Head == head {
		c = last.Checkpoint // nothing new since
	} else {
		c = auditanchor.New(key, a.id, seq, head, a.f.Now())
		if err := auditanchor.Append(a.logPath(), c); err != nil {
			return nil, "", err
		}
	}
	sha := ""
	if (toRef || a.ref) && a.repo != nil {
		g := a.git()
		if newest, err := g.ReadRef(ctx, 1); err == nil && len(newest) == 1 && newest[0].Store == c.Store && newest[0].Seq == c.Seq && newest[0].Head == c.Head {
			return &c, g.RefHead(ctx), nil // the ref already has it
		}
		if sha, err = g.WriteRef(ctx, c); err != nil {
			return &c, "", err
		}
	}
	return &c, sha, nil
}

// genesis is a new store's first checkpoint (seq 0), naming the target's
// head when the store began: trailers up to it are an earlier store's.
func (a *anchors) genesis(ctx context.Context, key *auditkey.Key, since string) error {
	c := auditanchor.Checkpoint{Version: 1, Store: a.id, Head: agentos.GenesisHash, Time: a.f.Now().UTC().Truncate(time.Millisecond), Since: since}
	c.Sign(key)
	if err := auditanchor.Append(a.logPath(), c); err != nil {
		return err
	}
	if a.ref && a.repo != nil {
		_, err := a.git().WriteRef(ctx, c)
		return err
	}
	return nil
}

// evidence is everything outside the store that witnesses its chain.
type evidence struct {
	checkpoints []auditanchor.Entry // this store's, log and ref
	retired     int                 // checkpoints of earlier stores in the ref
	trailers    []auditanchor.Trailer
	reviews     []auditanchor.Witness
	since       string
}

// gather reads the evidence: the log, the ref (this store's part: newest
// first down to its first checkpoint), the target's trailers after the
// store began, and the ReviewPacks under .agentos/reviews.
func (a *anchors) gather(ctx context.Context) (*evidence, error) {
	ev := &evidence{}
	log, err := auditanchor.ReadLog(a.logPath())
	if err != nil {
		return nil, err
	}
	var began time.Time // this store's first checkpoint: ReviewPacks before it are an earlier store's
	for _, e := range log {
		switch {
		case e.Seq == 0 && e.Store != a.id:
			// Another store's first checkpoint vouches for no event here
			// (a clone that adopted a shared store after its own init).
			ev.retired++
			continue
		case e.Seq == 0:
			ev.since, began = e.Since, e.Time
		}
		ev.checkpoints = append(ev.checkpoints, e)
	}
	if a.repo != nil {
		ref, err := a.git().ReadRef(ctx, auditanchor.MaxWalk)
		if err != nil {
			return nil, err
		}
		for i, e := range ref {
			if e.Seq == 0 && e.Store != a.id {
				ev.retired++
				continue
			}
			ev.checkpoints = append(ev.checkpoints, e)
			if e.Seq == 0 && e.Store == a.id {
				ev.since, began = e.Since, e.Time
				ev.retired += len(ref) - i - 1
				break
			}
		}
		if a.target != "" {
			if ev.trailers, err = a.git().Trailers(ctx, a.target, ev.since, auditanchor.MaxWalk); err != nil {
				return nil, err
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(a.dir, "reviews", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if began.IsZero() {
			// Only the head is needed, and canonical JSON writes the key
			// once (a string holding it would escape its quotes): no
			// parse of a pack that may be megabytes.
			if h, ok := chainHeadOf(b); ok {
				ev.reviews = append(ev.reviews, auditanchor.Witness{Hash: h, Where: "ReviewPack " + filepath.Join(agentos.StateDir, "reviews", filepath.Base(p))})
				continue
			}
		}
		var rp struct {
			ChainHead string    `json:"chain_head"`
			CreatedAt time.Time `json:"created_at"`
		}
		if json.Unmarshal(b, &rp) != nil {
			return nil, agentos.Errorf(agentos.ECONFLICT, "ReviewPack %s does not parse: it was edited", p)
		}
		if rp.ChainHead != "" && !rp.CreatedAt.Before(began) {
			ev.reviews = append(ev.reviews, auditanchor.Witness{Hash: rp.ChainHead, Where: "ReviewPack " + filepath.Join(agentos.StateDir, "reviews", filepath.Base(p))})
		}
	}
	return ev, nil
}

// witnesses turns the evidence into the checker's witnesses.
func (ev *evidence) witnesses(id string) []auditanchor.Witness {
	var ws []auditanchor.Witness
	for _, c := range ev.checkpoints {
		if c.Store == id && c.Seq > 0 {
			ws = append(ws, auditanchor.Witness{Seq: c.Seq, Hash: c.Head, Where: c.Where})
		}
	}
	for _, t := range ev.trailers {
		ws = append(ws, auditanchor.Witness{Seq: t.Seq, Hash: t.Hash, Where: fmt.Sprintf("the %s trailer of commit %s", agentos.TrailerAudit, t.Commit[:12])})
	}
	return append(ws, ev.reviews...)
}

// priorStore says what proves this repository had a store (for init,
// which must not silently start an empty one): "" when nothing does.
func (a *anchors) priorStore(ctx context.Context) string {
	if last, err := auditanchor.Last(a.logPath()); err != nil || last != nil {
		return filepath.Join(agentos.StateDir, auditanchor.LogFile)
	}
	if a.repo == nil {
		return ""
	}
	if a.git().RefHead(ctx) != "" {
		return auditanchor.Ref
	}
	if a.target != "" {
		if ts, err := a.git().Trailers(ctx, a.target, "", 1); err != nil || len(ts) > 0 {
			if len(ts) > 0 {
				return "the " + agentos.TrailerAudit + " trailer of commit " + ts[0].Commit[:12] + " on " + a.target
			}
			return a.target
		}
	}
	return ""
}

// chainHeadOf finds a ReviewPack's "chain_head" value without parsing it.
func chainHeadOf(b []byte) (string, bool) {
	const key = `"chain_head":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 || bytes.Contains(b[i+len(key):], []byte(key)) {
		return "", false
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// splitPub reads .agentos/audit.pub: "ssh-ed25519 AAAA… store=ID", the key
// and the store it was recorded for.
func splitPub(line string) (key, store string) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return strings.TrimSpace(line), ""
	}
	return f[0] + " " + f[1], strings.TrimPrefix(f[2], "store=")
}

// pubLine is audit.pub's content for key and store id.
func pubLine(key *auditkey.Key, id string) string { return key.AuthorizedKey() + " store=" + id + "\n" }
