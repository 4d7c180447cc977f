package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/memory"
)

const testToken = "s3cret-token"

// MustServe serves svc on 127.0.0.1:0 until the test ends and returns its URL.
func MustServe(tb testing.TB, svc memory.Service, opts memory.ServerOptions) string {
	tb.Helper()
	srv, err := memory.NewServer(svc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// services returns the Store and a Client of a served Store, for one suite.
func services(t *testing.T) map[string]func(t *testing.T) memory.Service {
	return map[string]func(t *testing.T) memory.Service{
		"Store": func(t *testing.T) memory.Service { return MustOpenStore(t) },
		"Client": func(t *testing.T) memory.Service {
			// A person's client: items keep the kind they say.
			url := MustServe(t, MustOpenStore(t), memory.ServerOptions{Clients: []memory.ServerClient{{Name: "ann", Token: testToken, Actor: "human:ann"}}})
			c, err := memory.NewClient(url, testToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
}

// TestService runs the same behaviour against the local and the remote memory.
func TestService(t *testing.T) {
	for name, open := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc := open(t)
			a, err := svc.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "Releases are cut from release branches", Scope: []string{"release/**"}, Tags: []string{"release"}, Source: "CONTRIBUTING.md:7", Author: "human:ann", Confidence: 0.9})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Add(ctx, agentos.MemoryItem{Kind: "nope", Text: "x"}); agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("Add(bad kind) = %v, want invalid", err)
			}
			got, err := svc.Get(ctx, a.ID)
			if err != nil || got.Text != a.Text || got.Confidence != 0.9 || !got.CreatedAt.Equal(a.CreatedAt) {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if _, err := svc.Get(ctx, "mem_missing"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
				t.Fatalf("Get(missing) = %v, want not_found", err)
			}
			hits, err := svc.Search(ctx, memory.Query{Text: `release "branch`, Paths: []string{"release/v2/notes.md"}})
			if err != nil || len(hits) != 1 || hits[0].Item.ID != a.ID || hits[0].Score <= 0 {
				t.Fatalf("Search = %+v, %v", hits, err)
			}
			b, err := svc.Edit(ctx, a.ID, "Releases are cut from main", "human:bob")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Edit(ctx, a.ID, "again", "human:bob"); agentos.ErrorCode(err) != agentos.ECONFLICT {
				t.Fatalf("Edit(superseded) = %v, want conflict", err)
			}
			if hits, _ := svc.Search(ctx, memory.Query{Text: "branches"}); len(hits) != 0 {
				t.Fatalf("old words still found after edit: %+v", hits)
			}
			p, err := svc.BuildPack(ctx, "task-1", agentos.MemoryQuery{Text: "cut a release", Paths: []string{"release/x"}, BudgetBytes: 100})
			if err != nil || len(p.Items) != 1 || p.Items[0].ID != b.ID || memory.VerifyPack(p) != nil {
				t.Fatalf("BuildPack = %+v, %v", p, err)
			}
			if err := svc.Remove(ctx, b.ID, "human:bob"); err != nil {
				t.Fatal(err)
			}
			if err := svc.Remove(ctx, "mem_missing", "human:bob"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
				t.Fatalf("Remove(missing) = %v, want not_found", err)
			}
			live, err := svc.List(ctx, memory.ListFilter{})
			if err != nil || len(live) != 0 {
				t.Fatalf("List live = %+v, %v; want none", live, err)
			}
			all, err := svc.List(ctx, memory.ListFilter{All: true, Tag: "release", Limit: 5})
			if err != nil || len(all) != 2 || all[0].ID != b.ID || all[0].SupersededBy != memory.Removed {
				t.Fatalf("List all = %+v, %v", all, err)
			}
			p, err = svc.BuildPack(ctx, "task-2", agentos.MemoryQuery{})
			if err != nil || len(p.Items) != 0 || p.Hash != p.ComputeHash() {
				t.Fatalf("BuildPack(empty) = %+v, %v", p, err)
			}
		})
	}
}

func call(t *testing.T, method, url, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: reply is not JSON: %q", method, url, raw)
		}
	}
	return resp.StatusCode, out
}

func TestServerHTTP(t *testing.T) {
	s := MustOpenStore(t)
	it := mustAdd(t, s, "Use gofmt")
	if _, err := s.Edit(t.Context(), it.ID, "Use gofmt and go vet", "human:ann"); err != nil {
		t.Fatal(err)
	}
	base := MustServe(t, s, memory.ServerOptions{Token: testToken, MaxBodyBytes: 4096})
	const js = "application/json"
	for _, tc := range []struct {
		name, method, path, token, ctype, body string
		status                                 int
		code                                   string
	}{
		{"Health", "GET", "/v1/health", "", "", "", 200, ""},
		{"ErrNoToken", "POST", "/v1/memory/search", "", js, `{"text":"x"}`, 401, agentos.EDENIED},
		{"ErrWrongToken", "POST", "/v1/memory/search", "wrong", js, `{"text":"x"}`, 401, agentos.EDENIED},
		{"Search", "POST", "/v1/memory/search", testToken, js, `{"text":"NEAR(\"* C++"}`, 200, ""},
		{"ErrBadJSON", "POST", "/v1/memory/search", testToken, js, `{"text":`, 400, agentos.EINVALID},
		{"ErrUnknownField", "POST", "/v1/memory/search", testToken, js, `{"txt":"x"}`, 400, agentos.EINVALID},
		{"ErrTwoValues", "POST", "/v1/memory/search", testToken, js, `{"text":"x"}{}`, 400, agentos.EINVALID},
		{"ErrEmptyBody", "POST", "/v1/memory/items", testToken, js, ``, 400, agentos.EINVALID},
		{"ErrContentType", "POST", "/v1/memory/search", testToken, "text/plain", `{"text":"x"}`, 400, agentos.EINVALID},
		{"ErrTooLarge", "POST", "/v1/memory/items", testToken, js, `{"kind":"fact","text":"` + strings.Repeat("a", 5000) + `"}`, 413, agentos.EINVALID},
		{"ErrBadItem", "POST", "/v1/memory/items", testToken, js, `{"kind":"gossip","text":"x"}`, 400, agentos.EINVALID},
		{"Add", "POST", "/v1/memory/items", testToken, js, `{"kind":"fact","text":"new fact"}`, 201, ""},
		{"ErrGetMissing", "GET", "/v1/memory/items/mem_zzz", testToken, "", "", 404, agentos.ENOTFOUND},
		{"GetSuperseded", "GET", "/v1/memory/items/" + it.ID, testToken, "", "", 200, ""},
		{"ErrEditSuperseded", "POST", "/v1/memory/items/" + it.ID + "/edit", testToken, js, `{"text":"y","actor":"human:x"}`, 409, agentos.ECONFLICT},
		{"ErrListLimit", "GET", "/v1/memory/items?limit=many", testToken, "", "", 400, agentos.EINVALID},
		{"ErrListKind", "GET", "/v1/memory/items?kind=gossip", testToken, "", "", 400, agentos.EINVALID},
		{"ErrPackNoTask", "POST", "/v1/memory/pack", testToken, js, `{"query":{"text":"x"}}`, 400, agentos.EINVALID},
		{"ErrUnknownEndpoint", "GET", "/v1/nope", testToken, "", "", 404, agentos.ENOTFOUND},
		{"ErrWrongMethod", "GET", "/v1/memory/search", testToken, "", "", 404, agentos.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, tc.method, base+tc.path, tc.token, tc.ctype, tc.body)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.code != "" && (body["code"] != tc.code || body["error"] == "") {
				t.Fatalf("body = %v, want code %s and a message", body, tc.code)
			}
		})
	}
}

func TestServerOpen(t *testing.T) {
	s := MustOpenStore(t)
	if _, err := memory.NewServer(s, memory.ServerOptions{}); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("NewServer without token = %v, want invalid", err)
	}
	srv, err := memory.NewServer(s, memory.ServerOptions{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on all interfaces here: %v", err)
	}
	defer ln.Close()
	if err := srv.Serve(t.Context(), ln); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("open Serve on 0.0.0.0 = %v, want denied", err)
	}
	base := MustServe(t, s, memory.ServerOptions{Open: true})
	if status, body := call(t, "POST", base+"/v1/memory/search", "", "application/json", `{"text":"x"}`); status != 200 {
		t.Fatalf("open loopback search = %d %v, want 200", status, body)
	}
}

func TestFromConfig(t *testing.T) {
	s := MustOpenStore(t)
	base := MustServe(t, s, memory.ServerOptions{Token: testToken})
	env := map[string]string{"MEM_TOKEN": testToken}
	getenv := func(k string) string { return env[k] }
	local, err := memory.FromConfig(nil, config.Memory{}, getenv)
	if err == nil {
		t.Fatalf("FromConfig(local, nil db) = %T, want an error", local)
	}
	remote, err := memory.FromConfig(nil, config.Memory{URL: base, TokenEnv: "MEM_TOKEN"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := remote.(*memory.Client); !ok {
		t.Fatalf("FromConfig(url) = %T, want *memory.Client", remote)
	}
	it, err := remote.Add(t.Context(), agentos.MemoryItem{Kind: agentos.MemoryLesson, Text: "go test ./x failed: timeout", Scope: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), it.ID); err != nil || got.Text != it.Text {
		t.Fatalf("item added remotely is not in the store: %+v, %v", got, err)
	}
	if _, err := memory.FromConfig(nil, config.Memory{URL: base, TokenEnv: "UNSET"}, getenv); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("FromConfig(empty token) = %v, want invalid", err)
	}
	noToken, err := memory.FromConfig(nil, config.Memory{URL: base}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noToken.List(t.Context(), memory.ListFilter{}); agentos.ErrorCode(err) != agentos.EDENIED {
		t.Fatalf("List without token = %v, want denied", err)
	}
	dead, _ := memory.NewClient("http://127.0.0.1:1", "", nil)
	if _, err := dead.Get(t.Context(), "x"); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("unreachable service gave %v", err)
	}
	if _, err := memory.NewClient("ftp://x", "", nil); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("NewClient(ftp) = %v, want invalid", err)
	}
}
