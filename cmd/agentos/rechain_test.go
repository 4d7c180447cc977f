package main

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/agentos/agentos"
	"github.com/rogpeppe/go-internal/testscript"
)

// rechain [-renumber] DB recomputes every audit row's prev_hash and hash
// in a SQLite file, in sequence order: the attacker who edited rows and
// knows the chain scheme. With -renumber it first renumbers the rows 1..n
// in their order, closing the gaps deleted rows left and placing inserted
// ones. What survives it must be caught by something other than the chain
// (audit verify's payload check, the checkpoints, trailers and ReviewPacks
// pinning the head).
func cmdRechain(ts *testscript.TestScript, neg bool, args []string) {
	renumber := len(args) == 2 && args[0] == "-renumber"
	if renumber {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rechain [-renumber] DB")
	}
	db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("rechain: %v", err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, time, task, run, actor, kind, data FROM audit ORDER BY seq`)
	if err != nil {
		ts.Fatalf("rechain: %v", err)
	}
	var evs []agentos.Event
	for rows.Next() {
		var e agentos.Event
		var tm, actor, data string
		if err := rows.Scan(&e.Seq, &tm, &e.Task, &e.Run, &actor, &e.Kind, &data); err != nil {
			ts.Fatalf("rechain: %v", err)
		}
		// The SQLite adapter stores times as RFC 3339 (nanoseconds).
		if e.Time, err = time.Parse(time.RFC3339Nano, tm); err != nil {
			ts.Fatalf("rechain: time %q of event %d: %v", tm, e.Seq, err)
		}
		e.Actor, e.Data = agentos.Actor(actor), json.RawMessage(data)
		evs = append(evs, e)
	}
	rows.Close()
	if renumber {
		// Out of the way first (negative), then 1..n: no two rows ever
		// share a seq mid-way.
		if _, err := db.Exec(`UPDATE audit SET seq = -seq - 1000000`); err != nil {
			ts.Fatalf("rechain: %v", err)
		}
		for i := range evs {
			if _, err := db.Exec(`UPDATE audit SET seq = ? WHERE seq = ?`, i+1, -evs[i].Seq-1000000); err != nil {
				ts.Fatalf("rechain: %v", err)
			}
			evs[i].Seq = int64(i + 1)
		}
	}
	prev := agentos.GenesisHash
	for _, e := range evs {
		e.PrevHash = prev
		e.Hash = e.ComputeHash()
		if _, err := db.Exec(`UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq); err != nil {
			ts.Fatalf("rechain: %v", err)
		}
		prev = e.Hash
	}
}
