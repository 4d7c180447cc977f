package tokens_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
	"github.com/agentos/agentos/tokens"
)

func TestRolesOrdered(t *testing.T) {
	for i, r := range tokens.Roles {
		for j, min := range tokens.Roles {
			if r.AtLeast(min) != (i >= j) {
				t.Errorf("%s.AtLeast(%s) = %v", r, min, r.AtLeast(min))
			}
		}
	}
	if tokens.Role("root").AtLeast(tokens.Viewer) || tokens.Admin.AtLeast("root") {
		t.Error("an unknown role compares")
	}
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Create(ctx, filepath.Join(t.TempDir(), "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	svc := &tokens.Service{DB: db, Now: func() time.Time { return now }, Audit: db}
	by := agentos.Human("root")
	secret, tok, err := svc.Create(ctx, tokens.CreateOptions{Name: "alice", Role: tokens.Approver, TTL: time.Hour, By: by})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, tokens.Prefix) || len(secret) != len(tokens.Prefix)+43 || tok.Hash != tokens.Hash(secret) || tok.Actor != "human:alice" {
		t.Fatalf("token %q %+v", secret, tok)
	}
	got, err := svc.Authenticate(ctx, secret)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("Authenticate = %v, %v", got, err)
	}
	// Anything else is the same denial.
	for _, bad := range []string{"", "aos_", secret + "x", strings.ToUpper(secret), "Bearer " + secret, tok.Hash} {
		if _, err := svc.Authenticate(ctx, bad); agentos.ErrorCode(err) != agentos.EDENIED {
			t.Errorf("Authenticate(%q) = %v, want denied", bad, err)
		}
	}
	// A row written by hand, with no token.created event, is no token.
	forged := agentos.APIToken{ID: "tok_00000000000000ff", Name: "mallory", Actor: agentos.Human("mallory"), Role: "admin",
		Hash: tokens.Hash(tokens.Prefix + strings.Repeat("B", 43)), CreatedAt: now, CreatedBy: by}
	if err := db.SaveToken(ctx, forged, agentos.EventInput{Actor: by, Kind: agentos.EventTokenCreated, Data: agentos.TokenEvent{ID: forged.ID, Name: "mallory", Actor: forged.Actor, Role: "viewer"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, tokens.Prefix+strings.Repeat("B", 43)); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("a row whose event says another role: %v", err)
	}
	// Expired at its expiry, to the nanosecond.
	now = tok.ExpiresAt
	if _, err := svc.Authenticate(ctx, secret); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("expired token: %v", err)
	}
	now = tok.CreatedAt
	// Revoked by name: every live token of that name, at once.
	secret2, _, err := svc.Create(ctx, tokens.CreateOptions{Name: "alice", Role: tokens.Viewer, By: by})
	if err != nil {
		t.Fatal(err)
	}
	done, err := svc.Revoke(ctx, "alice", by)
	if err != nil || len(done) != 2 {
		t.Fatalf("Revoke = %v, %v", done, err)
	}
	for _, s := range []string{secret, secret2} {
		if _, err := svc.Authenticate(ctx, s); agentos.ErrorCode(err) != agentos.EDENIED {
			t.Errorf("revoked token: %v", err)
		}
	}
	if _, err := svc.Revoke(ctx, "alice", by); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Errorf("revoking again: %v", err)
	}
	// An agent's token stops at submitting; names that read as other actors are refused.
	if _, _, err := svc.Create(ctx, tokens.CreateOptions{Name: "bot", Role: tokens.Answerer, Agent: true, By: by}); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Errorf("agent answerer token: %v", err)
	}
	for _, name := range []string{"", "system", "human:bob", "a b"} {
		if _, _, err := svc.Create(ctx, tokens.CreateOptions{Name: name, Role: tokens.Viewer, By: by}); err == nil {
			t.Errorf("token named %q was made", name)
		}
	}
	// The audit log has the four events, none with a secret or a hash.
	evs, err := db.Events(ctx, agentos.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 {
		t.Fatalf("%d events, want 3 created and 2 revoked", len(evs))
	}
	for _, e := range evs {
		if strings.Contains(string(e.Data), tok.Hash) || strings.Contains(string(e.Data), "aos_") || e.Actor != by {
			t.Errorf("event %s by %s: %s", e.Kind, e.Actor, e.Data)
		}
	}
}

// TestRecheckBeforeRefusal: a token-shaped secret that the store does not
// know is refused with Recheck's error when Recheck finds the store is not
// the repository's (a long-lived server whose store was replaced under it
// must not call a good token unknown); a good token and a malformed secret
// never pay for the check.
func TestRecheckBeforeRefusal(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Create(ctx, filepath.Join(t.TempDir(), "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checks := 0
	replaced := agentos.Errorf(agentos.ECONFLICT, "the AgentOS store is not this repository's")
	svc := &tokens.Service{DB: db, Audit: db, Recheck: func(context.Context) error { checks++; return replaced }}
	secret, _, err := svc.Create(ctx, tokens.CreateOptions{Name: "alice", Role: tokens.Viewer, TTL: time.Hour, By: agentos.Human("root")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil || checks != 0 {
		t.Fatalf("a good token: %v after %d checks, want it accepted unchecked", err, checks)
	}
	if _, err := svc.Authenticate(ctx, "not a token"); agentos.ErrorCode(err) != agentos.EDENIED || checks != 0 {
		t.Fatalf("a malformed secret: %v after %d checks, want denied unchecked", err, checks)
	}
	unknown := tokens.Prefix + strings.Repeat("Z", 43)
	if _, err := svc.Authenticate(ctx, unknown); err != replaced || checks != 1 {
		t.Fatalf("an unknown token-shaped secret: %v after %d checks, want the store's refusal", err, checks)
	}
	svc.Recheck = func(context.Context) error { return nil }
	if _, err := svc.Authenticate(ctx, unknown); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("an unknown token in the right store: %v, want denied", err)
	}
}
