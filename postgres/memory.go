package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/jackc/pgx/v5"
)

// MemoryIndex is the memory's SQL in PostgreSQL: items with their history in
// memory_items, the live ones found through a GIN index over their stemmed
// words (migrations/0100_memory.sql). memory.Store puts the rules on top, so
// it answers as the SQLite memory does (package memory/memorytest).
//
// Two differences remain, both of the 'english' configuration: its stop
// words ("the", "and", ...) are never indexed, so a query of stop words
// alone finds nothing, and it does not fold diacritics ("café" does not
// find "cafe"), where SQLite's tokenizer does.
type MemoryIndex struct {
	db *DB
	// CommonCap is how many matches make a term common (see Match).
	CommonCap int
}

var (
	_ memory.Index                       = (*MemoryIndex)(nil)
	_ interface{ Memory() memory.Index } = (*DB)(nil)
)

// Memory returns the memory kept in this database, for memory.NewStore or
// memory.FromConfig (a *MemoryIndex). It returns the interface so that both
// store adapters satisfy interface{ Memory() memory.Index }.
func (d *DB) Memory() memory.Index { return &MemoryIndex{db: d, CommonCap: 2000} }

const memCols = `seq, id, kind, text, scope, tags, source, author, confidence, created_at, updated_at, superseded_by`

func scanMemItem(r pgx.Row, extra ...any) (int64, agentos.MemoryItem, error) {
	var (
		seq                    int64
		it                     agentos.MemoryItem
		kind, created, updated string
		scope, tags            []byte
	)
	dest := append([]any{&seq, &it.ID, &kind, &it.Text, &scope, &tags, &it.Source, &it.Author, &it.Confidence, &created, &updated, &it.SupersededBy}, extra...)
	if err := r.Scan(dest...); err != nil {
		return 0, it, err
	}
	it.Kind = agentos.MemoryKind(kind)
	if err := json.Unmarshal(scope, &it.Scope); err != nil {
		return 0, it, fmt.Errorf("memory item %s: scope: %w", it.ID, err)
	}
	if err := json.Unmarshal(tags, &it.Tags); err != nil {
		return 0, it, fmt.Errorf("memory item %s: tags: %w", it.ID, err)
	}
	var err error
	if it.CreatedAt, err = time.Parse(timeFormat, created); err != nil {
		return 0, it, fmt.Errorf("memory item %s: created_at: %w", it.ID, err)
	}
	if it.UpdatedAt, err = time.Parse(timeFormat, updated); err != nil {
		return 0, it, fmt.Errorf("memory item %s: updated_at: %w", it.ID, err)
	}
	return seq, it, nil
}

// jsonList encodes a scope or tag list; a missing one is [], which the
// scoped index relies on.
func jsonList(xs []string) string {
	if xs == nil {
		xs = []string{}
	}
	b, _ := json.Marshal(xs)
	return string(b)
}

const insertMemItem = `INSERT INTO memory_items (id, kind, text, scope, tags, source, author, confidence, created_at, updated_at, words)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10,
	setweight(to_tsvector('english', $3), 'B') || setweight(to_tsvector('english', $11), 'A'))`

func insertMem(ctx context.Context, q querier, it agentos.MemoryItem) error {
	_, err := q.Exec(ctx, insertMemItem, it.ID, string(it.Kind), it.Text, jsonList(it.Scope), jsonList(it.Tags),
		it.Source, it.Author, it.Confidence, fmtTime(it.CreatedAt), fmtTime(it.UpdatedAt), strings.Join(it.Tags, " "))
	if err != nil {
		return fmt.Errorf("memory: insert %s: %w", it.ID, err)
	}
	return nil
}

// Insert stores items, indexes them and appends evs to the audit chain, in
// one transaction.
func (m *MemoryIndex) Insert(ctx context.Context, items []agentos.MemoryItem, evs ...agentos.EventInput) error {
	return m.db.inTx(ctx, func(tx pgx.Tx) error {
		for _, it := range items {
			if err := insertMem(ctx, tx, it); err != nil {
				return err
			}
		}
		return m.audit(ctx, tx, evs)
	})
}

// audit appends a write's events inside its transaction: a write is never
// kept without its event, nor an event without its write.
func (m *MemoryIndex) audit(ctx context.Context, tx pgx.Tx, evs []agentos.EventInput) error {
	if len(evs) == 0 {
		return nil
	}
	if _, err := m.db.appendTx(ctx, tx, evs...); err != nil {
		return fmt.Errorf("memory: audit: %w", err)
	}
	return nil
}

// Item returns an item, superseded or not.
func (m *MemoryIndex) Item(ctx context.Context, id string) (agentos.MemoryItem, bool, error) {
	_, it, err := scanMemItem(m.db.pool.QueryRow(ctx, `SELECT `+memCols+` FROM memory_items WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return agentos.MemoryItem{}, false, nil
	}
	if err != nil {
		return agentos.MemoryItem{}, false, fmt.Errorf("memory: get %s: %w", id, err)
	}
	return it, true, nil
}

func (m *MemoryIndex) collect(ctx context.Context, sql string, args ...any) ([]agentos.MemoryItem, error) {
	rows, err := m.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("memory: list: %w", err)
	}
	defer rows.Close()
	out := []agentos.MemoryItem{}
	for rows.Next() {
		_, it, err := scanMemItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Items lists items newest first.
func (m *MemoryIndex) Items(ctx context.Context, f memory.ListFilter) ([]agentos.MemoryItem, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.All {
		where = append(where, `superseded_by = ''`)
	}
	if f.Kind != "" {
		where = append(where, `kind = `+arg(string(f.Kind)))
	}
	if f.Tag != "" {
		where = append(where, `tags @> jsonb_build_array(`+arg(f.Tag)+`::text)`)
	}
	if f.Source != "" {
		// starts_with, not LIKE: a file name may hold % or _.
		where = append(where, `(source = `+arg(f.Source)+` OR starts_with(source, `+arg(f.Source+":")+`))`)
	}
	q := `SELECT ` + memCols + ` FROM memory_items`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq DESC LIMIT ` + arg(f.Limit)
	return m.collect(ctx, q, args...)
}

// Supersede marks id superseded and inserts next, in one transaction. The
// update is its own check: at READ COMMITTED a second writer waits for the
// first's row lock, then finds the item no longer live and changes nothing.
func (m *MemoryIndex) Supersede(ctx context.Context, id string, next *agentos.MemoryItem, actor string, at time.Time, evs ...agentos.EventInput) error {
	by := memory.Removed
	if next != nil {
		by = next.ID
	}
	return m.db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE memory_items SET superseded_by = $1, superseded_actor = $2, updated_at = $3 WHERE id = $4 AND superseded_by = ''`, by, actor, fmtTime(at), id)
		if err != nil {
			return fmt.Errorf("memory: supersede %s: %w", id, err)
		}
		if tag.RowsAffected() != 1 {
			return agentos.Errorf(agentos.ECONFLICT, "memory item %s was edited or removed meanwhile: see `agentos memory show %s`", id, id)
		}
		if next != nil {
			if err := insertMem(ctx, tx, *next); err != nil {
				return err
			}
		}
		return m.audit(ctx, tx, evs)
	})
}

// Match ranks live items for terms. Each term becomes its own
// plainto_tsquery, so the user's text never meets tsquery syntax, and an
// item holding any term is found. An item scores the sum over the terms it
// holds of the term's IDF times its ts_rank, with tags (weight A, 1.0)
// counting twice the text (weight B, 0.5), as in SQLite's bm25 weights:
// ts_rank alone knows nothing of how rare a word is, and a rare word must
// outweigh a common one.
//
// ts_rank must read every match, so, as in SQLite, terms are tiered to keep
// a search's cost from growing with the memory: each term's matches are
// counted up to CommonCap; rare terms are ranked over all their matches,
// common ones over the newest CommonCap items holding any of them, with the
// IDF of a term just past CommonCap (a lower bound on how common it is).
func (m *MemoryIndex) Match(ctx context.Context, terms []string, k int) ([]memory.Hit, error) {
	hits := []memory.Hit{}
	if len(terms) == 0 {
		return hits, nil
	}
	capN := max(m.CommonCap, 1)
	var top int64
	if err := m.db.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM memory_items`).Scan(&top); err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	rows, err := m.db.pool.Query(ctx, `SELECT t, (SELECT count(*) FROM (SELECT 1 FROM memory_items
	WHERE superseded_by = '' AND words @@ plainto_tsquery('english', t) LIMIT $2) AS c)
FROM unnest($1::text[]) AS t`, terms, capN+1)
	if err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	var counts, common []counted
	for rows.Next() {
		var c counted
		if err := rows.Scan(&c.term, &c.n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("memory: search: %w", err)
		}
		switch {
		case c.n == 0:
		case c.n > capN:
			common = append(common, c)
		default:
			counts = append(counts, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	// Long task texts hold many mid-frequency words: rank over the rarest
	// until 4×CommonCap matches, treat the rest as common.
	slices.SortStableFunc(counts, func(a, b counted) int { return a.n - b.n })
	var rare []counted
	total := 0
	for _, c := range counts {
		if total+c.n > 4*capN && len(rare) > 0 {
			common = append(common, counted{c.term, capN + 1})
			continue
		}
		total += c.n
		rare = append(rare, c)
	}
	// Sequence numbers stand in for the count of items, as in SQLite:
	// counting live rows would read them all.
	n := float64(max(top, 1))
	idf := func(c counted) float64 {
		v := math.Log((n - float64(c.n) + 0.5) / (float64(c.n) + 0.5))
		return max(v, 1e-6)
	}
	seen := map[int64]bool{}
	// rank adds the best k items for cs among those of the row source from,
	// where QUERY stands for the ORed query.
	rank := func(cs []counted, from string, args ...any) error {
		parts := make([]string, len(cs))
		score := make([]string, len(cs))
		for i, c := range cs {
			args = append(args, c.term)
			q := `plainto_tsquery('english', $` + strconv.Itoa(len(args)) + `)`
			parts[i] = q
			args = append(args, idf(c))
			score[i] = `$` + strconv.Itoa(len(args)) + `::float8 * ts_rank('{0, 0, 0.5, 1.0}', words, ` + q + `)`
		}
		args = append(args, k)
		sql := `SELECT ` + memCols + `, ` + strings.Join(score, " + ") + ` AS score
FROM ` + strings.ReplaceAll(from, "QUERY", "("+strings.Join(parts, " || ")+")") + ` AS w
ORDER BY score DESC, seq DESC LIMIT $` + strconv.Itoa(len(args))
		rows, err := m.db.pool.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("memory: search: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var score float64
			seq, it, err := scanMemItem(rows, &score)
			if err != nil {
				return err
			}
			if !seen[seq] {
				seen[seq] = true
				hits = append(hits, memory.Hit{Item: it, Score: score})
			}
		}
		return rows.Err()
	}
	if len(rare) > 0 {
		if err := rank(rare, `(SELECT * FROM memory_items WHERE superseded_by = '' AND words @@ QUERY)`); err != nil {
			return nil, err
		}
	}
	if len(common) > 0 {
		// $1 is the window; the terms follow.
		if err := rank(common, `(SELECT * FROM memory_items WHERE superseded_by = '' AND words @@ QUERY ORDER BY seq DESC LIMIT $1)`, capN); err != nil {
			return nil, err
		}
	}
	return hits, nil
}

type counted struct {
	term string
	n    int
}

// Scoped reads only seq and scope of the newest n scoped live items, then
// loads those keep wants.
func (m *MemoryIndex) Scoped(ctx context.Context, n int, keep func(scope []string) bool) ([]agentos.MemoryItem, error) {
	rows, err := m.db.pool.Query(ctx, `SELECT seq, scope FROM memory_items WHERE superseded_by = '' AND scope <> '[]' ORDER BY seq DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("memory: scoped items: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			rows.Close()
			return nil, err
		}
		var scope []string
		if err := json.Unmarshal(raw, &scope); err != nil {
			rows.Close()
			return nil, fmt.Errorf("memory: item %d: scope: %w", seq, err)
		}
		if keep(scope) {
			seqs = append(seqs, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	return m.collect(ctx, `SELECT `+memCols+` FROM memory_items WHERE seq = ANY($1) AND superseded_by = ''`, seqs)
}
