package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// EnvStoreURL names the environment variable that selects the store; it
// wins over store.url, so one worker can point elsewhere without editing
// the committed policy.
const EnvStoreURL = "AGENTOS_STORE_URL"

// Store selects where AgentOS keeps its state. Empty URL: the embedded
// SQLite database in .agentos/. A postgres:// URL: a PostgreSQL database
// that workers on several machines share.
type Store struct {
	URL string `yaml:"url"`
	// MinFreeMiB is the free space, in MiB, the filesystem of .agentos/
	// must have before a run starts (0: DefaultMinFreeMiB): below it apply
	// refuses and the task stays queued, rather than fail half-recorded.
	MinFreeMiB int `yaml:"min_free_mib"`
}

// DefaultMinFreeMiB is store.min_free_mib's default.
const DefaultMinFreeMiB = 64

// MinFreeBytes is the free space a run needs to start.
func (c *Config) MinFreeBytes() int64 {
	if c.Store.MinFreeMiB > 0 {
		return int64(c.Store.MinFreeMiB) << 20
	}
	return DefaultMinFreeMiB << 20
}

// StoreURL returns the store URL in force: $AGENTOS_STORE_URL, else
// store.url, else "" (SQLite).
func (c *Config) StoreURL(getenv func(string) string) string {
	if u := strings.TrimSpace(getenv(EnvStoreURL)); u != "" {
		return u
	}
	return c.Store.URL
}

// CheckStoreURL checks a store URL from either source; name says which.
func CheckStoreURL(name, raw string) error {
	// The URL is never echoed: it may hold a password.
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // what is wrong, without the URL
		}
		return fmt.Errorf("%s: the URL does not parse (%v); want postgres://USER@HOST:PORT/DATABASE", name, err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("%s: not a postgres:// or postgresql:// URL (e.g. postgres://agentos@db.example:5432/agentos)", name)
	}
	return nil
}

func validateStore(c *Config) error {
	if c.Store.MinFreeMiB < 0 {
		return fmt.Errorf("store.min_free_mib: %d is negative; want a size in MiB (default %d)", c.Store.MinFreeMiB, DefaultMinFreeMiB)
	}
	if c.Store.URL == "" {
		return nil
	}
	if err := CheckStoreURL("store.url", c.Store.URL); err != nil {
		return err
	}
	u, _ := url.Parse(c.Store.URL)
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		return fmt.Errorf("store.url: put no password in %s, which is committed: export PGPASSWORD, use ~/.pgpass, or set the whole URL in %s", FileName, EnvStoreURL)
	}
	return nil
}
