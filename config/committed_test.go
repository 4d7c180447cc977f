package config_test

import (
	"context"
	"testing"

	"github.com/agentos/agentos/config"
)

// AtCommit reads only what the reader says is committed: defaults govern
// where nothing is, and a committed file that does not load is an error,
// never a fallback to the defaults.
func TestAtCommit(t *testing.T) {
	committed := map[string]string{"c1": "version: 1\ntarget: main\n", "bad": "version: 2\n"}
	read := func(_ context.Context, commit, path string) ([]byte, bool, error) {
		if path != config.FileName {
			t.Fatalf("read %s", path)
		}
		b, ok := committed[commit]
		return []byte(b), ok, nil
	}
	defaults := func() (*config.Config, error) { return config.Parse([]byte("version: 1\ntarget: dflt\n"), "defaults") }
	c, ok, err := config.AtCommit(t.Context(), read, "c1", defaults)
	if err != nil || !ok || c.Target != "main" {
		t.Fatalf("c1: %+v %v %v", c, ok, err)
	}
	c, ok, err = config.AtCommit(t.Context(), read, "none", defaults)
	if err != nil || ok || c.Target != "dflt" {
		t.Fatalf("none: %+v %v %v", c, ok, err)
	}
	if _, _, err := config.AtCommit(t.Context(), read, "bad", defaults); err == nil {
		t.Fatal("a committed policy that does not load fell back to the defaults")
	}
}
