package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/postgres"
	"github.com/jackc/pgx/v5"
)

// Rows written before times were fixed-width (trailing zeros trimmed) are
// rewritten by the migration, so a store upgraded in place lists its tasks
// newest first too; the rewrite keeps each time and leaves empty values.
func TestFixedWidthTimesMigrationRewritesOldRows(t *testing.T) {
	serverURL(t)
	ctx := context.Background()
	d := &dbs{}
	db, err := postgres.Create(ctx, d.url(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := pgx.Connect(ctx, d.url(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
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
		if _, err := c.Exec(ctx, `UPDATE tasks SET created_at = $1, updated_at = $1 WHERE id = $2`, at, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateRun(ctx, &agentos.Run{ID: "r1", Task: "t1", PlanHash: "h", Worktree: "w"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `UPDATE runs SET started_at = '2026-03-04T05:06:07.5Z', ended_at = '' WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	sql, err := os.ReadFile("migrations/0104_fixed_width_times.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, string(sql)); err != nil {
		t.Fatal(err)
	}
	ts, err := db.Tasks(ctx, agentos.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.ID)
	}
	if strings.Join(got, " ") != "t5 t4 t3 t2 t1" {
		t.Errorf("Tasks() after the migration = %v, want t5 t4 t3 t2 t1", got)
	}
	var started, ended string
	if err := c.QueryRow(ctx, `SELECT started_at, ended_at FROM runs WHERE id = 'r1'`).Scan(&started, &ended); err != nil {
		t.Fatal(err)
	}
	if started != "2026-03-04T05:06:07.500000000Z" || ended != "" {
		t.Errorf("run times after the rewrite: %q, %q", started, ended)
	}
}
