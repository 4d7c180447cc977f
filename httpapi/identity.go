package httpapi

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/tokens"
)

// Identity is who made a request: the holder of the bearer token it
// carried. Writes are made, and audited, as Actor.
type Identity struct {
	// Token is the token's ID (tok_…), as `agentos token list` shows it.
	Token string `json:"token"`
	// Name is the token's name: the person or service holding it.
	Name string `json:"name"`
	// Actor is who the requests act as: human:NAME, or agent:NAME for a
	// service's token.
	Actor agentos.Actor `json:"actor"`
	// Role is what the token may do (package tokens orders the roles).
	Role tokens.Role `json:"role"`
}

// Can reports whether the identity's role includes min.
func (id Identity) Can(min tokens.Role) bool { return id.Role.AtLeast(min) }

type identityKey struct{}

// IdentityFrom returns who made the request whose context is ctx; ok is
// false when no token authenticated it (the UI's own pages).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ContextWithIdentity returns ctx carrying id: for a handler mounted beside
// the API that authenticates its requests another way (the web page's
// session) and then serves them through the API's handlers.
func ContextWithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

func identityOf(t *agentos.APIToken) Identity {
	return Identity{Token: t.ID, Name: t.Name, Actor: t.Actor, Role: tokens.Role(t.Role)}
}
