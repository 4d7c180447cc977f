// Package pgtest gives tests a PostgreSQL database of their own on the
// server named by AGENTOS_TEST_POSTGRES (.ci/postgres starts one). Without
// it a test skips with one line saying how to enable it — except in CI
// (CI=true), where a missing PostgreSQL fails instead of passing silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/agentos/agentos/postgres"
	"github.com/jackc/pgx/v5"
)

// EnvServer names the server the tests create their databases on.
const EnvServer = "AGENTOS_TEST_POSTGRES"

// ServerURL returns the test server's URL, or skips (fails in CI).
func ServerURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvServer); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is unset: CI needs PostgreSQL: .ci/run starts it", EnvServer)
	}
	tb.Skipf("PostgreSQL tests skipped: set %s=postgres://USER:PASSWORD@127.0.0.1:5432/postgres?sslmode=disable (a role that may CREATE DATABASE), or run `bash .ci/postgres`", EnvServer)
	return ""
}

// FreshDatabase creates agentos_test_<random> on the test server and returns
// its URL; the database is dropped when tb ends.
func FreshDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("connect to %s: %v", postgres.RedactURL(server), err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "agentos_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() { drop(tb, server, name) })
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// drop removes the database, retrying briefly: a connection that is still
// closing (or an autovacuum worker) can hold it for a moment.
func drop(tb testing.TB, server, name string) {
	ctx := context.Background()
	var err error
	for try := range 5 {
		var c *pgx.Conn
		if c, err = pgx.Connect(ctx, server); err == nil {
			_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
		if err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	tb.Errorf("drop database %s: %v", name, err)
}
