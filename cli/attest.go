package cli

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
)

// attestKey is where the CLI finds the audit key that signs (create) and
// checks commit attestations: the policy's audit.key_file, else the
// default key of the store's identity (the one `agentos init` made and the
// checkpoints are signed with), made on first use.
func attestKey(f *Factory, db agentos.Store, create bool) func(ctx context.Context) (*auditkey.Key, error) {
	return func(ctx context.Context) (*auditkey.Key, error) {
		integ, ok := db.(agentos.StoreIntegrity)
		if !ok {
			return nil, agentos.Errorf(agentos.ENOTFOUND, "the store keeps no identity, so it has no audit key")
		}
		id, err := integ.Identity(ctx)
		if err != nil {
			return nil, err
		}
		keyFile := ""
		if cfg, err := f.ConfigUnchecked(ctx); err == nil {
			keyFile = cfg.Audit.KeyFile
		}
		path, err := auditkey.Resolve(keyFile, id)
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
