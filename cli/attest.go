package cli

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
)

// attestKey is where the CLI finds the audit key that signs (create) and
// checks commit attestations: the default key of the store's identity,
// made on first use. It is the one place that lookup is made, so it can
// follow audit.key_file when the policy names one.
func attestKey(db agentos.Store, create bool) func(ctx context.Context) (*auditkey.Key, error) {
	return func(ctx context.Context) (*auditkey.Key, error) {
		integ, ok := db.(agentos.StoreIntegrity)
		if !ok {
			return nil, agentos.Errorf(agentos.ENOTFOUND, "the store keeps no identity, so it has no audit key")
		}
		id, err := integ.Identity(ctx)
		if err != nil {
			return nil, err
		}
		path, err := auditkey.Resolve("", id)
		if err != nil {
			return nil, err
		}
		if !create {
			return auditkey.Load(path)
		}
		k, _, err := auditkey.LoadOrCreate(path)
		return k, err
	}
}
