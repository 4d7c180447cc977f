package agentos

import (
	"context"
	"time"
)

// APIToken is a bearer token of `agentos serve` as the store keeps it:
// never the secret, only its SHA-256 (package tokens makes and checks them).
type APIToken struct {
	// ID names the token in lists, audit events and `agentos token revoke`.
	ID string `json:"id"`
	// Name is who holds it: a person's name, or a service's.
	Name string `json:"name"`
	// Actor is who the holder's requests act as: human:NAME or agent:NAME.
	Actor Actor `json:"actor"`
	// Role is what the holder may do (package tokens orders the roles).
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the secret.
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy Actor     `json:"created_by"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is zero until the token is revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy Actor     `json:"revoked_by,omitempty"`
}

// TokenStore keeps API tokens. Creating and revoking one append its audit
// event in the same transaction.
type TokenStore interface {
	// SaveToken inserts t (ECONFLICT when its ID or hash exists) with ev.
	SaveToken(ctx context.Context, t APIToken, ev EventInput) error
	// APITokens lists every token, revoked ones too, oldest first.
	APITokens(ctx context.Context) ([]APIToken, error)
	// TokenByHash returns the token whose secret hashes to hash (ENOTFOUND).
	TokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// RevokeToken marks token id revoked at by (ENOTFOUND; ECONFLICT when
	// already revoked) with the event ev builds from the revoked token.
	RevokeToken(ctx context.Context, id string, at time.Time, by Actor, ev func(APIToken) EventInput) (*APIToken, error)
}

// Audit event kinds of API tokens.
const (
	EventTokenCreated = "token.created"
	EventTokenRevoked = "token.revoked"
)

// TokenEvent is the data of token.created and token.revoked: who the token
// is for and what it may do, never its secret or hash.
type TokenEvent struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Actor     Actor  `json:"actor"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// NewTokenEvent returns the audit event of kind (EventTokenCreated or
// EventTokenRevoked) for t, by actor.
func NewTokenEvent(kind string, t APIToken, actor Actor) EventInput {
	d := TokenEvent{ID: t.ID, Name: t.Name, Actor: t.Actor, Role: t.Role}
	if !t.ExpiresAt.IsZero() {
		d.ExpiresAt = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return EventInput{Actor: actor, Kind: kind, Data: d}
}
