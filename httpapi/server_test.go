package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/tokens"
)

func TestListenCheck(t *testing.T) {
	for _, c := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"0.0.0.0:8080", false, false, false},
		{":8080", false, false, false},
		{"192.168.1.2:8080", false, false, false},
		{"example.com:8080", false, false, false},
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
		{"127.0.0.1", false, false, false},
	} {
		if err := ListenCheck(c.addr, c.tls, c.insecure); (err == nil) != c.ok {
			t.Errorf("ListenCheck(%q, tls %v, insecure %v) = %v", c.addr, c.tls, c.insecure, err)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, 3, func() time.Time { return now })
	for i := range 3 {
		if w := l.take("a"); w != 0 {
			t.Fatalf("request %d waited %s", i, w)
		}
	}
	if w := l.take("a"); w <= 0 || w > time.Second {
		t.Fatalf("4th request at once: wait %s, want (0, 500ms]", w)
	}
	if w := l.take("b"); w != 0 {
		t.Fatal("another token shares the bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if w := l.take("a"); w != 0 {
		t.Fatalf("after refill: wait %s", w)
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{
		agentos.EINVALID: 400, agentos.ENOTFOUND: 404, agentos.EDENIED: 403, agentos.ECONFLICT: 409, agentos.EBLOCKED: 409,
		agentos.EAWAITINGAPPROVAL: 409, agentos.EHELD: 409, agentos.ECANCELLED: 409, agentos.EDECLINED: 409, agentos.EFAILED: 422,
		agentos.EINTERNAL: 500, "": http.StatusInternalServerError,
	} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
}

// Every route the server has is in /openapi.json with its least role, and
// every documented operation is a route: the document cannot drift.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, err := New(Options{Open: func(context.Context) (Session, error) { return nil, nil }, Tokens: &tokens.Service{}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			k := strings.ToUpper(method) + " " + path
			documented[k] = true
			role, _ := op["x-agentos-role"].(string)
			if path == "/openapi.json" || path == "/api/v1/health" {
				if role != "none" {
					t.Errorf("%s: x-agentos-role %q, want none", k, role)
				}
				continue
			}
			if got, ok := s.roles[k]; !ok {
				t.Errorf("%s is documented but not served", k)
			} else if string(got) != role {
				t.Errorf("%s: documented role %q, served %q", k, role, got)
			}
		}
	}
	for k := range s.roles {
		if !documented[k] {
			t.Errorf("%s is served but not documented", k)
		}
	}
}
