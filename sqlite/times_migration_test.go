package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Rows written before times were fixed-width (trailing zeros trimmed) are
// rewritten by the migration, so a store upgraded in place lists its tasks
// newest first too; the rewrite keeps each time and leaves empty values.
func TestFixedWidthTimesMigrationRewritesOldRows(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	old := map[string]string{ // trimmed text, as older binaries wrote it
		"t1": "2026-03-04T05:06:07Z",
		"t2": "2026-03-04T05:06:07.09Z",
		"t3": "2026-03-04T05:06:07.1Z",
		"t4": "2026-03-04T05:06:07.15Z",
		"t5": "2026-03-04T05:06:07.999999999Z",
	}
	for id, at := range old {
		if err := db.CreateTask(ctx, &agentos.Task{ID: id, Mode: agentos.ModeSemiAuto, Goal: "g", Submitter: agentos.Human("ann"), Target: "main"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.db.ExecContext(ctx, `UPDATE tasks SET created_at = ?, updated_at = ? WHERE id = ?`, at, at, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.db.ExecContext(ctx, `INSERT INTO runs (id, task, plan_hash, started_at, worktree) VALUES ('r1', 't1', 'h', '2026-03-04T05:06:07.5Z', 'w')`); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var sql []byte
	for _, m := range ms {
		if strings.Contains(m.base, "fixed_width_times") {
			sql, err = migrationFS.ReadFile(m.name)
		}
	}
	if err != nil || sql == nil {
		t.Fatalf("the fixed-width times migration: %v", err)
	}
	if _, err := db.db.ExecContext(ctx, string(sql)); err != nil {
		t.Fatal(err)
	}
	ts, err := db.Tasks(ctx, agentos.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.ID)
		if want := parseTime(old[x.ID]); !x.CreatedAt.Equal(want) || !x.UpdatedAt.Equal(want) {
			t.Errorf("%s: times %s, %s after the rewrite, want %s", x.ID, x.CreatedAt, x.UpdatedAt, want)
		}
	}
	if strings.Join(got, " ") != "t5 t4 t3 t2 t1" {
		t.Errorf("Tasks() after the migration = %v, want t5 t4 t3 t2 t1", got)
	}
	var started, ended string
	if err := db.db.QueryRowContext(ctx, `SELECT started_at, ended_at FROM runs WHERE id = 'r1'`).Scan(&started, &ended); err != nil {
		t.Fatal(err)
	}
	if started != "2026-03-04T05:06:07.500000000Z" || ended != "" {
		t.Errorf("run times after the rewrite: %q, %q", started, ended)
	}
}
