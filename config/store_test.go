package config

import (
	"strings"
	"testing"
)

func TestStoreURL(t *testing.T) {
	for _, tc := range []struct{ url, err string }{
		{"", ""},
		{"postgres://agentos@db:5432/agentos", ""},
		{"postgresql://db/agentos?sslmode=require", ""},
		{"postgres:///agentos", ""}, // host and user from PGHOST/PGUSER
		{"mysql://db/agentos", "not a postgres:// or postgresql:// URL"},
		{"/var/lib/agentos.db", "not a postgres:// or postgresql:// URL"},
		{"postgres://agentos:s3cret@db/agentos", "put no password"},
		{"postgres://agentos@db/agentos?password=s3cret", "put no password"},
		{"postgres://agentos:s3cret@db:port/agentos", "does not parse"},
	} {
		_, err := Parse([]byte("version: 1\nstore:\n  url: \""+tc.url+"\"\n"), "agentos.yaml")
		if tc.err == "" {
			if err != nil {
				t.Errorf("url %q: %v", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "agentos.yaml: store.url") {
			t.Errorf("url %q: err = %v, want %q", tc.url, err, tc.err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("url %q: the error shows the password: %v", tc.url, err)
		}
	}
	c, err := Parse([]byte("version: 1\nstore:\n  url: postgres://a@b/c\n"), "agentos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	if got := c.StoreURL(func(k string) string { return env[k] }); got != "postgres://a@b/c" {
		t.Errorf("StoreURL = %q", got)
	}
	env[EnvStoreURL] = "postgres://x@y/z"
	if got := c.StoreURL(func(k string) string { return env[k] }); got != "postgres://x@y/z" {
		t.Errorf("StoreURL with %s = %q, want the variable to win", EnvStoreURL, got)
	}
}
