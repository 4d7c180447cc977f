package sqlite

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// fileState is the content digest of each of the store's files (db, -wal);
// a missing file is "absent", so a created empty -wal is a change too.
func fileState(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			out[filepath.Base(p)] = "absent"
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return out
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func seedEvents(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		if _, err := db.Append(context.Background(), agentos.EventInput{Actor: agentos.System, Kind: "test", Data: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll exercises the read paths a read verb uses.
func readAll(t *testing.T, db *DB) int64 {
	t.Helper()
	ctx := context.Background()
	n, err := db.VerifyChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ChainHead(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Tasks(ctx, agentos.TaskFilter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events(ctx, agentos.EventFilter{Kind: "test"}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenReadOnlyMissingFileIsNotCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agentos.db")
	_, err := OpenReadOnly(context.Background(), path)
	if agentos.ErrorCode(err) != agentos.ENOTFOUND || !strings.Contains(agentos.ErrorMessage(err), "agentos init") {
		t.Fatalf("OpenReadOnly of a missing file = %v, want ENOTFOUND naming agentos init", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("OpenReadOnly created %v", names)
	}
}

// With no writer running, a read-only open reads and leaves the database
// and its -wal byte-identical and creates no file: the last writer kept
// its (empty) -wal and -shm, so SQLite needs to create nothing.
func TestOpenReadOnlyChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "agentos.db")
	w, err := Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	seedEvents(t, w, 5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("after the last writer closed, the -wal should be kept and empty: %v", err)
	}
	before, names := fileState(t, path), dirNames(t, dir)

	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if n := readAll(t, r); n != 5 {
		t.Fatalf("read %d events, want 5", n)
	}
	_, err = r.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: "test"})
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("Append on a read-only store = %v, want a read-only refusal", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileState(t, path); !maps.Equal(before, after) {
		t.Fatalf("read-only open changed the store: before %v, after %v", before, after)
	}
	if after := dirNames(t, dir); !slices.Equal(names, after) {
		t.Fatalf("read-only open changed the files: before %v, after %v", names, after)
	}
}

// A read-only open while a writer in another process has committed
// transactions in the WAL (not yet checkpointed): the reader sees them,
// sees the writer's later commits too (no immutable=1), and changes
// neither file.
func TestOpenReadOnlyWithWriterRunning(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agentos.db")
	w, err := Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "AGENTOS_TEST_WRITER="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	replies := bufio.NewScanner(stdout)
	ask := func(line string) {
		t.Helper()
		fmt.Fprintln(stdin, line)
		if !replies.Scan() || replies.Text() != "ok" {
			t.Fatalf("writer: %q: %q %v", line, replies.Text(), replies.Err())
		}
	}
	ask("append 3")
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the writer's commits should be in the WAL: %v", err)
	}
	before := fileState(t, path)

	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := readAll(t, r); n != 3 {
		t.Fatalf("reader saw %d events with the writer running, want 3", n)
	}
	if after := fileState(t, path); !maps.Equal(before, after) {
		t.Fatalf("read-only reads changed the store: before %v, after %v", before, after)
	}
	ask("append 2")
	if n := readAll(t, r); n != 5 {
		t.Fatalf("reader saw %d events after the writer's next commit, want 5", n)
	}
	before = fileState(t, path)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileState(t, path); !maps.Equal(before, after) {
		t.Fatalf("closing the reader changed the store: before %v, after %v", before, after)
	}
	ask("verify 5")
}

// TestHelperWriter is the writer process of TestOpenReadOnlyWithWriterRunning:
// it holds the store open and appends or verifies on each stdin line.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("AGENTOS_TEST_WRITER")
	if path == "" {
		t.Skip("the writer process of TestOpenReadOnlyWithWriterRunning")
	}
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var n int
		switch {
		case scan(in.Text(), "append %d", &n):
			seedEvents(t, db, n)
		case scan(in.Text(), "verify %d", &n):
			if got, err := db.VerifyChain(ctx); err != nil || got != int64(n) {
				t.Fatalf("writer verify: %d, %v", got, err)
			}
		default:
			t.Fatalf("writer: unknown command %q", in.Text())
		}
		fmt.Println("ok")
	}
}

func scan(s, format string, n *int) bool {
	_, err := fmt.Sscanf(s, format, n)
	return err == nil
}
