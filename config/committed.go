package config

import "context"

// ReadCommitted reads path as committed at commit, from the object database
// (gitrepo.Repo.FileAt); ok is false when the commit has no such file.
type ReadCommitted func(ctx context.Context, commit, path string) (b []byte, ok bool, err error)

// AtCommit is the one place that says which policy governs work based on
// commit: agentos.yaml as committed there. When the commit has none,
// defaults governs (committed is false). The working tree is never read,
// so an uncommitted edit of agentos.yaml decides nothing.
func AtCommit(ctx context.Context, read ReadCommitted, commit string, defaults func() (*Config, error)) (cfg *Config, committed bool, err error) {
	b, ok, err := read(ctx, commit, FileName)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		cfg, err := defaults()
		return cfg, false, err
	}
	cfg, err = Parse(b, FileName)
	return cfg, err == nil, err
}
