package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:s3cret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=s3cret":             "postgres://u@h/db?password=xxxxx",
		"postgres://u:s3cret@h:port/db":                 "postgres://u:xxxxx@h:port/db", // does not parse
		"postgres://h/db":                               "postgres://h/db",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Open's errors never carry the password, whatever fails: the scheme, the
// parse (pgx and net/url both quote the URL), the connection.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const pw = "s3cret-p%40ss"
	for _, raw := range []string{
		"mysql://u:" + pw + "@127.0.0.1/db",
		"postgres://u:" + pw + "@127.0.0.1:port/db",
		"postgres://u:" + pw + "@127.0.0.1/db%zz", // pgx quotes url.Parse's error, which quotes the URL
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=2&password=" + pw,
		"postgres://u@127.0.0.1/db?sslmode=bogus&password=" + pw,
	} {
		_, err := Open(context.Background(), raw)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", RedactURL(raw))
		}
		for e := error(err); e != nil; e = unwrap(e) {
			for _, p := range []string{pw, "s3cret-p@ss"} {
				if strings.Contains(e.Error(), p) {
					t.Errorf("an error of Open(%s) shows the password: %v", RedactURL(raw), e)
				}
			}
		}
		if c := agentos.ErrorCode(err); c != agentos.EINVALID && c != agentos.EINTERNAL {
			t.Errorf("Open(%s): code %q", RedactURL(raw), c)
		}
	}
}

func unwrap(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}
