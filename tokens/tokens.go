// Package tokens makes and checks the bearer tokens of `agentos serve`.
//
// A token is 32 random bytes (base64url, prefixed "aos_"), shown once when
// it is made; the store keeps only its SHA-256, so a copy of the store
// grants nothing. Each token has a name (the person or service holding it,
// who its requests act as), a role, an optional expiry, and can be revoked;
// making and revoking one are audited. Only the local admin — the OS user
// at the repository, as for `agentos init` — makes and revokes tokens, with
// `agentos token`; the HTTP API has no route that makes one.
//
// Roles are ordered; each includes those before it:
//
//	viewer     read everything the API shows (tasks, plans, reviews, audit, memory, locks)
//	submitter  + submit plans, apply, cancel and re-plan tasks
//	answerer   + send answers to a task's questions (signed by the person's own key)
//	approver   + approve and reject plans (signed by the person's own key)
//	admin      + force-release locks, list tokens
//
// A role is necessary, never sufficient, for answering and approving: the
// person's signature, verified against the committed policy's signers,
// decides (package httpapi). A token alone never approves.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
)

// Role is what a token's holder may do.
type Role string

// The roles, in order: each may do what the ones before it may.
const (
	Viewer    Role = "viewer"
	Submitter Role = "submitter"
	Answerer  Role = "answerer"
	Approver  Role = "approver"
	Admin     Role = "admin"
)

// Roles lists the roles in order.
var Roles = []Role{Viewer, Submitter, Answerer, Approver, Admin}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if slices.Contains(Roles, Role(s)) {
		return Role(s), nil
	}
	return "", agentos.Errorf(agentos.EINVALID, "role %q: want one of viewer, submitter, answerer, approver, admin", s)
}

// AtLeast reports whether r includes what min may do.
func (r Role) AtLeast(min Role) bool {
	i, j := slices.Index(Roles, r), slices.Index(Roles, min)
	return i >= 0 && j >= 0 && i >= j
}

// Prefix starts every token's secret, so a leaked one is recognisable
// (and the redaction rules can find it).
const Prefix = "aos_"

// Hash is the stored form of a secret: hex SHA-256.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Service makes, lists, checks and revokes tokens over a store.
type Service struct {
	DB  agentos.TokenStore
	Now func() time.Time
	// Audit, when set, is the audit log Authenticate checks every token
	// against: a token counts only with its token.created event (same ID,
	// name, actor, role, expiry) and without a token.revoked one, so a row
	// written into the store by hand, or a revocation erased from a row,
	// grants nothing. `agentos serve` sets it.
	Audit agentos.AuditStore
	// Recheck, when set, is called before a token is refused: it proves
	// the store is still the repository's own (opened afresh). A
	// long-lived server whose store was replaced under it reads the other
	// store's tokens and events through its open handle, and would call a
	// good token unknown where the truth is the replaced store.
	Recheck func(context.Context) error

	mu      sync.Mutex
	next    int64                         // the first event seq not read yet
	created map[string]agentos.TokenEvent // token.created by token ID
	revoked map[string]bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CreateOptions describe a new token.
type CreateOptions struct {
	// Name is who holds it: a person's name (their requests act as
	// human:NAME) or, with Agent, a service's (agent:NAME).
	Name  string
	Role  Role
	Agent bool
	// TTL is how long it is valid; 0: until revoked.
	TTL time.Duration
	// By is who makes it (the local admin).
	By agentos.Actor
}

// Create makes a token and returns its secret, which is never stored.
func (s *Service) Create(ctx context.Context, o CreateOptions) (string, agentos.APIToken, error) {
	if err := agentos.ValidHumanName(o.Name); err != nil {
		return "", agentos.APIToken{}, agentos.Errorf(agentos.EINVALID, "--name: %v", err)
	}
	if _, err := ParseRole(string(o.Role)); err != nil {
		return "", agentos.APIToken{}, err
	}
	actor := agentos.Human(o.Name)
	if o.Agent {
		// Answers and approvals are a person's; a service's token stops
		// at submitting.
		if o.Role.AtLeast(Answerer) {
			return "", agentos.APIToken{}, agentos.Errorf(agentos.EDENIED, "an agent's token may be viewer or submitter, not %s: answering and approving are a person's", o.Role)
		}
		actor = agentos.Agent(o.Name)
	}
	if o.TTL < 0 {
		return "", agentos.APIToken{}, agentos.Errorf(agentos.EINVALID, "--expires %s: want a positive duration", o.TTL)
	}
	var raw [32]byte
	var id [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", agentos.APIToken{}, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return "", agentos.APIToken{}, err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC()
	t := agentos.APIToken{ID: "tok_" + hex.EncodeToString(id[:]), Name: o.Name, Actor: actor, Role: string(o.Role),
		Hash: Hash(secret), CreatedAt: now, CreatedBy: o.By}
	if o.TTL > 0 {
		t.ExpiresAt = now.Add(o.TTL)
	}
	if err := s.DB.SaveToken(ctx, t, agentos.NewTokenEvent(agentos.EventTokenCreated, t, o.By)); err != nil {
		return "", agentos.APIToken{}, err
	}
	return secret, t, nil
}

// List returns every token, revoked and expired ones too.
func (s *Service) List(ctx context.Context) ([]agentos.APIToken, error) {
	ts, err := s.DB.APITokens(ctx)
	if ts == nil {
		ts = []agentos.APIToken{}
	}
	return ts, err
}

// Revoke revokes the token with ID ref, or every live token named ref.
func (s *Service) Revoke(ctx context.Context, ref string, by agentos.Actor) ([]agentos.APIToken, error) {
	ts, err := s.DB.APITokens(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range ts {
		if t.ID == ref || (t.Name == ref && t.RevokedAt.IsZero()) {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no live token has the ID or name %q: `agentos token list` shows them", ref)
	}
	var out []agentos.APIToken
	for _, id := range ids {
		t, err := s.DB.RevokeToken(ctx, id, s.now(), by, func(t agentos.APIToken) agentos.EventInput {
			return agentos.NewTokenEvent(agentos.EventTokenRevoked, t, by)
		})
		if err != nil {
			return out, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// Authenticate returns the live token whose secret is given. Every failure
// is the same EDENIED error, so a client learns nothing about which tokens
// exist, were revoked or expired.
func (s *Service) Authenticate(ctx context.Context, secret string) (*agentos.APIToken, error) {
	t, err := s.authenticate(ctx, secret)
	// Only a secret shaped like a token can be a good one misjudged.
	if agentos.ErrorCode(err) == agentos.EDENIED && s.Recheck != nil && wellFormed(secret) {
		if rerr := s.Recheck(ctx); rerr != nil {
			return nil, rerr
		}
	}
	return t, err
}

// wellFormed reports whether secret has a token's shape.
func wellFormed(secret string) bool {
	return strings.HasPrefix(secret, Prefix) && len(secret) <= 128
}

func (s *Service) authenticate(ctx context.Context, secret string) (*agentos.APIToken, error) {
	denied := agentos.Errorf(agentos.EDENIED, "missing, unknown, expired or revoked bearer token (send Authorization: Bearer TOKEN, made by `agentos token create`)")
	if !wellFormed(secret) {
		return nil, denied
	}
	h := Hash(secret)
	t, err := s.DB.TokenByHash(ctx, h)
	if agentos.ErrorCode(err) == agentos.ENOTFOUND {
		return nil, denied
	}
	if err != nil {
		return nil, err
	}
	// The store found it by an index; compare again in constant time so
	// that no path depends on how much of the hash matched.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, denied
	}
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt)) {
		return nil, denied
	}
	if _, err := ParseRole(t.Role); err != nil {
		return nil, fmt.Errorf("token %s has an unknown role %q", t.ID, t.Role)
	}
	if s.Audit != nil {
		ok, err := s.audited(ctx, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, denied
		}
	}
	return t, nil
}

// audited reports whether t's row is what its audit events say: created as
// it reads, and never revoked. The events are read once, then only the new
// ones on each call.
func (s *Service) audited(ctx context.Context, t *agentos.APIToken) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created == nil {
		s.created, s.revoked, s.next = map[string]agentos.TokenEvent{}, map[string]bool{}, 1
	}
	head, _, err := s.Audit.ChainHead(ctx)
	if err != nil {
		return false, err
	}
	if head >= s.next {
		for _, kind := range []string{agentos.EventTokenCreated, agentos.EventTokenRevoked} {
			evs, err := s.Audit.Events(ctx, agentos.EventFilter{Kind: kind, FromSeq: s.next})
			if err != nil {
				return false, err
			}
			for _, e := range evs {
				var d agentos.TokenEvent
				if err := json.Unmarshal(e.Data, &d); err != nil {
					return false, agentos.WrapError(agentos.EINTERNAL, err, "audit event %d (%s) does not decode: %v; run `agentos audit verify`", e.Seq, e.Kind, err)
				}
				if kind == agentos.EventTokenCreated {
					s.created[d.ID] = d
				} else {
					s.revoked[d.ID] = true
				}
			}
		}
		s.next = head + 1
	}
	want := agentos.NewTokenEvent(agentos.EventTokenCreated, *t, "").Data.(agentos.TokenEvent)
	got, ok := s.created[t.ID]
	return ok && got == want && !s.revoked[t.ID], nil
}
