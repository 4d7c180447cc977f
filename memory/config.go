package memory

import (
	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// FromConfig returns the memory agentos.yaml asks for: a Client when
// memory.url is set (its token read through getenv from memory.token_env),
// else a Store on ix, the store's own memory (db.Memory()). ix may be nil
// when memory.url is set.
func FromConfig(ix Index, c config.Memory, getenv func(string) string) (Service, error) {
	if c.URL == "" {
		if ix == nil {
			return nil, agentos.Errorf(agentos.EINTERNAL, "memory: no store for the local memory")
		}
		return NewStore(ix), nil
	}
	token := ""
	if c.TokenEnv != "" {
		if token = getenv(c.TokenEnv); token == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "memory.token_env names %s, which is empty: export %s=TOKEN for the memory service at %s", c.TokenEnv, c.TokenEnv, c.URL)
		}
	}
	return NewClient(c.URL, token, nil)
}
