package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
)

// startOver is init's check before it creates a store where there is none:
// evidence that this repository had one refuses it unless --new-store, and
// with --new-store the old checkpoint log is kept aside, not appended to.
func startOver(ctx context.Context, f *Factory, state string, newStore bool) error {
	a := f.newAnchors(ctx, state, "")
	proof := ""
	if _, err := os.Stat(filepath.Join(state, anchorFile)); err == nil {
		proof = filepath.Join(agentos.StateDir, anchorFile)
	} else {
		proof = a.priorStore(ctx)
	}
	if proof == "" {
		return nil
	}
	if !newStore {
		return agentos.Errorf(agentos.ECONFLICT, "this repository had an AgentOS store (%s proves it) and it is missing: restore .agentos/agentos.db (or the PostgreSQL database) from a backup, or run `agentos init --new-store` to start a new, empty one whose audit chain starts over", proof)
	}
	if _, err := os.Stat(a.logPath()); err == nil {
		aside := filepath.Join(state, fmt.Sprintf("checkpoints-%s.jsonl", time.Now().UTC().Format("20060102T150405Z")))
		if err := os.Rename(a.logPath(), aside); err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot keep the old checkpoint log aside: %v", err)
		}
		fmt.Fprintf(f.IO.ErrOut, "agentos: a new store: the old store's checkpoints are kept in %s\n", aside)
	}
	return nil
}

// initAuditKey loads or makes the store's audit key, records its public half
// beside store.json, and anchors the store: a new store's first checkpoint
// names the target's head (trailers up to it are an earlier store's); an
// existing one gets a checkpoint of its head. nil key: the store keeps no
// identity (nothing to anchor).
func initAuditKey(ctx context.Context, f *Factory, db agentos.Store, state, target string, created bool) (*auditkey.Key, bool, error) {
	integ, ok := db.(agentos.StoreIntegrity)
	if !ok {
		return nil, false, nil
	}
	id, err := integ.Identity(ctx)
	if err != nil {
		return nil, false, err
	}
	a := f.newAnchors(ctx, state, id)
	path, err := auditkey.Resolve(a.keyFile, id)
	if err != nil {
		return nil, false, err
	}
	if a.keyFile == "" && a.pinned != "" {
		// A new store (init --new-store) of a repository whose policy pins
		// its key keeps that key: the pin is the repository's, not the
		// store's.
		if err := adoptPinnedKey(path, a.pinned); err != nil {
			return nil, false, err
		}
	}
	key, keyCreated, err := auditkey.LoadOrCreate(path)
	if err != nil {
		return nil, false, err
	}
	a.key = key
	if a.pinned != "" {
		if pub, err := auditkey.ParsePublic(a.pinned); err == nil && !pub.Equal(key.Public) {
			return nil, false, agentos.Errorf(agentos.ECONFLICT, "the audit key %s (%s) is not audit.public_key of %s: set audit.key_file to the pinned key, or pin this one", key.Path, key.AuthorizedKey(), config.FileName)
		}
	}
	pubPath := filepath.Join(state, pubFile)
	b, err := os.ReadFile(pubPath)
	recorded, store := splitPub(string(b))
	if err == nil && !created && store == id {
		if recorded != key.AuthorizedKey() {
			return nil, false, agentos.Errorf(agentos.ECONFLICT, "the audit key %s (%s) is not the one recorded in %s (%s): put the recorded key back, or remove %s to adopt this one (earlier checkpoints then no longer verify)", key.Path, key.AuthorizedKey(), pubPath, recorded, pubPath)
		}
	} else if err := os.WriteFile(pubPath, []byte(pubLine(key, id)), 0o644); err != nil {
		return nil, false, agentos.WrapError(agentos.EINTERNAL, err, "cannot record the audit key's public half: %v", err)
	}
	if created {
		since := ""
		if a.repo != nil && target != "" {
			if out, err := a.git().Head(ctx, target); err == nil {
				since = out
			}
		}
		if err := a.genesis(ctx, key, since); err != nil {
			return nil, false, err
		}
	}
	if seq, _, err := db.ChainHead(ctx); err == nil && seq > 0 {
		if _, _, err := a.checkpoint(ctx, db, false); err != nil {
			return nil, false, err
		}
	}
	return key, keyCreated, nil
}

// pinAuditKey adds the key's public half to a policy init just wrote, so
// committing the policy pins it where a rewrite of .agentos/ cannot reach.
func pinAuditKey(cfgPath string, key *auditkey.Key) error {
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	if c, err := config.Parse(b, config.FileName); err != nil || c.Audit.PublicKey != "" {
		return nil
	}
	body := string(b)
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	block := fmt.Sprintf(`# The audit key signs checkpoints of the audit chain (docs/audit.md). Its
# private half is kept outside the repository (key_file: default
# ~/.config/agentos/audit/<store>); the public half pinned here, committed,
# is what `+"`agentos audit verify`"+` accepts. ref: true also writes every
# checkpoint to refs/agentos/audit, to push with the branch.
audit:
  public_key: %s
  ref: false

`, quoteYAML(key.AuthorizedKey()))
	// Before the gates, which stay the file's last section: people append
	// rules there.
	if i := strings.Index(body, policy.DefaultGatesYAML); i >= 0 {
		body = body[:i] + block + body[i:]
	} else {
		body += "\n" + block
	}
	if _, err := config.Parse([]byte(body), config.FileName); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "pinning the audit key breaks agentos.yaml (a bug): %v", err)
	}
	return os.WriteFile(cfgPath, []byte(body), 0o644)
}

// adoptPinnedKey copies the key pinned by pinned from another store's
// default key file to path, when path has none.
func adoptPinnedKey(path, pinned string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	pub, err := auditkey.ParsePublic(pinned)
	if err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"))
	for _, p := range files {
		k, err := auditkey.Load(p)
		if err != nil || !k.Public.Equal(pub) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot copy the pinned audit key to %s: %v", path, err)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		return werr
	}
	return nil
}
