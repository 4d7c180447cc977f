package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/sqlite"
	_ "modernc.org/sqlite" // the driver, to tamper with the file as an attacker would
)

// memRepo makes a git repository with a minimal agentos.yaml and .agentos/.
func memRepo(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Skipf("git init: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte("version: 1\n"+yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the committed policy governs.
	if out, err := exec.Command("git", "-C", dir, "add", "agentos.yaml").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v %s", err, out)
	}
	if out, err := exec.Command("git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "policy").CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v %s", err, out)
	}
	mustStore(t, dir)
	return dir
}

// mustStore makes .agentos/ with an empty store, as `agentos init` does:
// the commands never create a missing store themselves.
func mustStore(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, agentos.StateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Create(t.Context(), filepath.Join(dir, agentos.StateDir, "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func runMem(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append([]string{"-C", dir}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMemoryCommands(t *testing.T) {
	dir := memRepo(t, "")
	code, out, errOut := runMem(t, dir, "memory", "add", "Releases are cut from the release/* branches only", "--kind", "convention", "--scope", "release/**", "--tag", "release")
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if code, _, errOut := runMem(t, dir, "memory", "add", "x", "--kind", "gossip"); code != ExitUsage || !strings.Contains(errOut, "gossip") {
		t.Fatalf("add --kind gossip: exit %d, %q; want %d", code, errOut, ExitUsage)
	}
	code, out, _ = runMem(t, dir, "memory", "search", `release "branch`, "--scope", "release/v2", "--json")
	var doc MemorySearchDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Hits) != 1 || doc.Hits[0].Item.ID != id || doc.Hits[0].Item.Author != string(osHuman(t)) {
		t.Fatalf("search --json: exit %d, %s", code, out)
	}
	code, out, _ = runMem(t, dir, "memory", "edit", id, "Releases are cut from main")
	newID := strings.TrimSpace(out)
	if code != 0 || newID == id {
		t.Fatalf("edit: exit %d, %q", code, out)
	}
	code, out, _ = runMem(t, dir, "memory", "show", id)
	if code != 0 || !strings.Contains(out, "superseded by "+newID) {
		t.Fatalf("show old: exit %d, %s", code, out)
	}
	if code, out, _ := runMem(t, dir, "memory", "search", "branches"); code != 0 || out != "" {
		t.Fatalf("search for the edited-away word: exit %d, %q", code, out)
	}
	if code, _, _ := runMem(t, dir, "memory", "rm", newID); code != 0 {
		t.Fatalf("rm: exit %d", code)
	}
	if code, _, errOut := runMem(t, dir, "memory", "rm", newID); code != ExitFailed || !strings.Contains(errOut, "removed") {
		t.Fatalf("rm twice: exit %d, %q", code, errOut)
	}
	if code, _, _ := runMem(t, dir, "memory", "show", "mem_nope"); code != ExitUsage {
		t.Fatalf("show unknown: exit %d, want %d", code, ExitUsage)
	}
	agents := filepath.Join(dir, "AGENTS.md")
	if err := os.WriteFile(agents, []byte("# Testing\n- Run go test ./...\n- Use -race\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMem(t, dir, "memory", "import", agents, "--json")
	var imp MemoryImportDoc
	if code != 0 || json.Unmarshal([]byte(out), &imp) != nil || len(imp.Files) != 1 || len(imp.Files[0].Added) != 2 || imp.Files[0].Added[1].Source != "AGENTS.md:3" {
		t.Fatalf("import: exit %d, %s %s", code, out, errOut)
	}
	code, out, _ = runMem(t, dir, "memory", "list", "--all", "--json")
	var list MemoryListDoc
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 4 {
		t.Fatalf("list --all: exit %d, %s", code, out)
	}
	if code, _, _ := runMem(t, dir, "memory", "bogus"); code != ExitUsage {
		t.Fatalf("memory bogus: exit %d, want %d", code, ExitUsage)
	}
}

func TestMemoryPackCommand(t *testing.T) {
	dir := memRepo(t, "")
	if code, _, _ := runMem(t, dir, "memory", "pack", "t1"); code != ExitUsage {
		t.Fatalf("pack without one: exit %d, want %d (not found)", code, ExitUsage)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, agentos.StateDir, "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := memory.NewStore(db.Memory())
	if _, err := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "The API is versioned under /v1"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.BuildPack(ctx, "t1", agentos.MemoryQuery{Text: "change the API"})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("BuildPack = %+v, %v", p, err)
	}
	if err := db.SaveMemoryPack(ctx, &p, agentos.System); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runMem(t, dir, "memory", "pack", "t1", "--json")
	var got agentos.MemoryPack
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Hash != p.Hash {
		t.Fatalf("pack --json: exit %d, %s", code, out)
	}
	if code, out, _ := runMem(t, dir, "memory", "pack", "t1"); code != 0 || !strings.Contains(out, p.Hash) {
		t.Fatalf("pack: exit %d, %s", code, out)
	}
	// An attacker with the file rewrites the stored pack behind the store.
	raw, err := sql.Open("sqlite", db.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE memory_packs SET body = replace(body, 'versioned', 'unversioned') WHERE id = ?`, p.ID); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMem(t, dir, "memory", "pack", "t1"); code != ExitFailed || !strings.Contains(errOut, "altered") {
		t.Fatalf("tampered pack: exit %d, %q; want %d", code, errOut, ExitFailed)
	}
}

// TestMemoryRemote: with memory.url set, the commands use the service.
func TestMemoryRemote(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Create(ctx, filepath.Join(t.TempDir(), "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	remote := memory.NewStore(db.Memory())
	// The token names the client, and the client's actor is the author
	// (what the CLI sends as author is ignored by the service).
	srv, err := memory.NewServer(remote, memory.ServerOptions{Clients: []memory.ServerClient{{Name: "ann", Token: "tok", Actor: "human:ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Serve(sctx, ln)
	t.Setenv("MEM_TOK", "tok")
	dir := memRepo(t, "memory:\n  url: http://"+ln.Addr().String()+"\n  token_env: MEM_TOK\n")
	code, out, errOut := runMem(t, dir, "memory", "add", "Shared across workers", "--json")
	var it agentos.MemoryItem
	if code != 0 || json.Unmarshal([]byte(out), &it) != nil {
		t.Fatalf("remote add: exit %d, %s %s", code, out, errOut)
	}
	if got, err := remote.Get(ctx, it.ID); err != nil || got.Author != "human:ann" || got.Kind != agentos.MemoryFact {
		t.Fatalf("the item is not in the served store: %+v, %v", got, err)
	}
	t.Setenv("MEM_TOK", "wrong")
	if code, _, errOut := runMem(t, dir, "memory", "list"); code != ExitFailed || !strings.Contains(errOut, "token") {
		t.Fatalf("wrong token: exit %d, %q", code, errOut)
	}
}
