package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// Housekeeping's question (tasks that ended within a window of updated_at)
// is answered from an index range, not by scanning every task: SQLite's
// plan for the query Tasks builds names the index on (state, updated_at).
func TestHousekeepingQueryUsesTheUpdatedIndex(t *testing.T) {
	db := MustOpen(t)
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	for _, f := range []agentos.TaskFilter{
		{Ended: true, UpdatedSince: now.Add(-time.Hour), UpdatedBefore: now},
		{Ended: true, UpdatedBefore: now},
	} {
		q, args := tasksQuery(f)
		rows, err := db.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "INDEX tasks_state_updated (state=? AND updated_at") {
			t.Errorf("plan for %+v: %s\nwant a range of index tasks_state_updated", f, got)
		}
	}
}
