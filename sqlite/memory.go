package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
)

// MemoryIndex is the memory's SQL on this file: items with their history in
// memory_items, the live ones in the FTS5 table memory_fts with Porter
// stemming (migrations/0002_memory.sql). memory.Store puts the rules on top.
type MemoryIndex struct {
	db *sql.DB
	// store appends a write's audit events in the write's transaction.
	store *DB
	// CommonCap is how many matches make a term common (see Match).
	CommonCap int
}

var (
	_ memory.Index                       = (*MemoryIndex)(nil)
	_ interface{ Memory() memory.Index } = (*DB)(nil)
)

// Memory returns the memory kept in this file, for memory.NewStore or
// memory.FromConfig (a *MemoryIndex). It returns the interface so that both
// store adapters satisfy interface{ Memory() memory.Index }.
func (d *DB) Memory() memory.Index { return &MemoryIndex{db: d.db, store: d, CommonCap: 2000} }

const itemCols = `seq, id, kind, text, scope, tags, source, author, confidence, created_at, updated_at, superseded_by`

func scanItem(r scanner) (int64, agentos.MemoryItem, error) {
	var (
		seq                                 int64
		it                                  agentos.MemoryItem
		kind, scope, tags, created, updated string
	)
	if err := r.Scan(&seq, &it.ID, &kind, &it.Text, &scope, &tags, &it.Source, &it.Author, &it.Confidence, &created, &updated, &it.SupersededBy); err != nil {
		return 0, it, err
	}
	it.Kind = agentos.MemoryKind(kind)
	if err := json.Unmarshal([]byte(scope), &it.Scope); err != nil {
		return 0, it, fmt.Errorf("memory item %s: scope: %w", it.ID, err)
	}
	if err := json.Unmarshal([]byte(tags), &it.Tags); err != nil {
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

func memTS(t time.Time) string { return fmtTime(t) }

// inserter writes item rows and their index rows inside one transaction,
// with statements prepared once per transaction: parsing the SQL per row
// costs a bulk load about a fifth of its time.
type inserter struct {
	item, fts *sql.Stmt
}

func newInserter(ctx context.Context, tx *sql.Tx) (*inserter, error) {
	item, err := tx.PrepareContext(ctx, `INSERT INTO memory_items (id, kind, text, scope, tags, source, author, confidence, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return nil, fmt.Errorf("memory: prepare: %w", err)
	}
	fts, err := tx.PrepareContext(ctx, `INSERT INTO memory_fts (rowid, text, tags) VALUES (?, ?, ?)`)
	if err != nil {
		item.Close()
		return nil, fmt.Errorf("memory: prepare: %w", err)
	}
	return &inserter{item: item, fts: fts}, nil
}

func (in *inserter) Close() {
	in.item.Close()
	in.fts.Close()
}

func (in *inserter) insert(ctx context.Context, it agentos.MemoryItem) error {
	scope, _ := json.Marshal(orEmpty(it.Scope))
	tags, _ := json.Marshal(orEmpty(it.Tags))
	res, err := in.item.ExecContext(ctx, it.ID, string(it.Kind), it.Text, string(scope), string(tags), it.Source, it.Author, it.Confidence, memTS(it.CreatedAt), memTS(it.UpdatedAt))
	if err != nil {
		return fmt.Errorf("memory: insert %s: %w", it.ID, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := in.fts.ExecContext(ctx, seq, it.Text, strings.Join(it.Tags, " ")); err != nil {
		return fmt.Errorf("memory: index %s: %w", it.ID, err)
	}
	return nil
}

// orEmpty stores a missing list as [], which the scoped index relies on.
func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// Insert stores items, indexes them and appends evs to the audit chain, in
// one transaction.
func (m *MemoryIndex) Insert(ctx context.Context, items []agentos.MemoryItem, evs ...agentos.EventInput) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("memory: begin: %w", err)
	}
	defer tx.Rollback()
	in, err := newInserter(ctx, tx)
	if err != nil {
		return err
	}
	defer in.Close()
	for _, it := range items {
		if err := in.insert(ctx, it); err != nil {
			return err
		}
	}
	if err := m.audit(ctx, tx, evs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("memory: commit: %w", err)
	}
	return nil
}

// Item returns an item, superseded or not.
func (m *MemoryIndex) Item(ctx context.Context, id string) (agentos.MemoryItem, bool, error) {
	_, it, err := scanItem(m.db.QueryRowContext(ctx, `SELECT `+itemCols+` FROM memory_items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return agentos.MemoryItem{}, false, nil
	}
	if err != nil {
		return agentos.MemoryItem{}, false, fmt.Errorf("memory: get %s: %w", id, err)
	}
	return it, true, nil
}

// Items lists items newest first.
func (m *MemoryIndex) Items(ctx context.Context, f memory.ListFilter) ([]agentos.MemoryItem, error) {
	var where []string
	var args []any
	if !f.All {
		where = append(where, `superseded_by = ''`)
	}
	if f.Kind != "" {
		where = append(where, `kind = ?`)
		args = append(args, string(f.Kind))
	}
	if f.Tag != "" {
		where = append(where, `EXISTS (SELECT 1 FROM json_each(memory_items.tags) WHERE value = ?)`)
		args = append(args, f.Tag)
	}
	if f.Source != "" {
		// substr, not LIKE: a file name may hold % or _.
		where = append(where, `(source = ? OR substr(source, 1, length(?)) = ?)`)
		args = append(args, f.Source, f.Source+":", f.Source+":")
	}
	q := `SELECT ` + itemCols + ` FROM memory_items`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("memory: list: %w", err)
	}
	defer rows.Close()
	out := []agentos.MemoryItem{}
	for rows.Next() {
		_, it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Supersede marks id superseded, drops it from the index and inserts next,
// in one transaction.
func (m *MemoryIndex) Supersede(ctx context.Context, id string, next *agentos.MemoryItem, actor string, at time.Time, evs ...agentos.EventInput) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("memory: begin: %w", err)
	}
	defer tx.Rollback()
	by := memory.Removed
	if next != nil {
		by = next.ID
	}
	var seq int64
	err = tx.QueryRowContext(ctx, `UPDATE memory_items SET superseded_by = ?, superseded_actor = ?, updated_at = ? WHERE id = ? AND superseded_by = '' RETURNING seq`, by, actor, memTS(at), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return agentos.Errorf(agentos.ECONFLICT, "memory item %s was edited or removed meanwhile: see `agentos memory show %s`", id, id)
	}
	if err != nil {
		return fmt.Errorf("memory: supersede %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memory_fts WHERE rowid = ?`, seq); err != nil {
		return fmt.Errorf("memory: unindex %s: %w", id, err)
	}
	if next != nil {
		in, err := newInserter(ctx, tx)
		if err != nil {
			return err
		}
		defer in.Close()
		if err := in.insert(ctx, *next); err != nil {
			return err
		}
	}
	if err := m.audit(ctx, tx, evs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("memory: commit: %w", err)
	}
	return nil
}

// audit appends a write's events inside its transaction: a write is never
// kept without its event, nor an event without its write.
func (m *MemoryIndex) audit(ctx context.Context, tx *sql.Tx, evs []agentos.EventInput) error {
	if len(evs) == 0 {
		return nil
	}
	if m.store == nil {
		return agentos.Errorf(agentos.EINTERNAL, "memory: this index has no audit chain to append the write's events to")
	}
	if _, err := m.store.appendTx(ctx, tx, evs...); err != nil {
		return fmt.Errorf("memory: audit: %w", err)
	}
	return nil
}

// Optimize merges the full-text index into one segment; worth it after a bulk load.
func (m *MemoryIndex) Optimize(ctx context.Context) error {
	_, err := m.db.ExecContext(ctx, `INSERT INTO memory_fts(memory_fts) VALUES ('optimize')`)
	return err
}

// matchExpr builds an FTS5 MATCH expression: each term a quoted string,
// joined by OR so that long task texts still find partial matches; bm25
// ranks items holding more (and rarer) terms first. Terms hold no quotes,
// and doubling them anyway keeps the expression valid whatever Terms becomes.
func matchExpr(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}

type candidate struct {
	seq   int64
	score float64 // -bm25: higher is better
}

// Match ranks live items for terms with bm25 (tags weigh twice the text).
//
// bm25 must visit every match, and FTS5 computes each term's IDF by reading
// its whole doclist, so a naive query on a word most items hold costs time in
// proportion to the memory. Match avoids that in tiers: it counts each
// term's matches up to CommonCap (cheap: it stops there); rare terms are
// ranked by FTS5's bm25 over all their matches, while common ones are ranked
// only over the newest CommonCap items that hold any of them (a rowid range
// FTS5 seeks to), by the sum of their estimated IDFs (see rankCommon). A
// common word says little about relevance and recency is a fair prior for
// memory, so results barely change and cost no longer grows with the memory.
func (m *MemoryIndex) Match(ctx context.Context, terms []string, k int) ([]memory.Hit, error) {
	hits := []memory.Hit{}
	if len(terms) == 0 {
		return hits, nil
	}
	capN := max(m.CommonCap, 1)
	type counted struct {
		term string
		n    int
	}
	var rare []counted
	var common []string
	for _, t := range terms {
		var n int
		if err := m.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ? LIMIT ?)`, matchExpr([]string{t}), capN+1).Scan(&n); err != nil {
			return nil, fmt.Errorf("memory: search: %w", err)
		}
		switch {
		case n == 0:
		case n > capN:
			common = append(common, t)
		default:
			rare = append(rare, counted{t, n})
		}
	}
	// Long task texts hold many mid-frequency words: rank over the rarest
	// until 4×CommonCap matches, treat the rest as common.
	slices.SortStableFunc(rare, func(a, b counted) int { return a.n - b.n })
	var rareTerms []string
	total := 0
	for _, c := range rare {
		if total+c.n > 4*capN && len(rareTerms) > 0 {
			common = append(common, c.term)
			continue
		}
		total += c.n
		rareTerms = append(rareTerms, c.term)
	}

	const rankSQL = `SELECT rowid, -bm25(memory_fts, 1.0, 2.0) FROM memory_fts WHERE memory_fts MATCH ?`
	cands := map[int64]float64{}
	collect := func(query string, args ...any) error {
		rows, err := m.db.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("memory: search: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.seq, &c.score); err != nil {
				return err
			}
			if _, ok := cands[c.seq]; !ok {
				cands[c.seq] = c.score
			}
		}
		return rows.Err()
	}
	if len(rareTerms) > 0 {
		if err := collect(rankSQL+` ORDER BY 2 DESC LIMIT ?`, matchExpr(rareTerms), k); err != nil {
			return nil, err
		}
	}
	if len(common) > 0 {
		if err := m.rankCommon(ctx, common, capN, k, cands); err != nil {
			return nil, err
		}
	}
	if len(cands) == 0 {
		return hits, nil
	}
	items, err := m.loadLive(ctx, cands)
	if err != nil {
		return nil, err
	}
	for seq, it := range items {
		hits = append(hits, memory.Hit{Item: it, Score: cands[seq]})
	}
	return hits, nil
}

// rankCommon scores, into cands, the newest capN items holding any of the
// common terms, without bm25: bm25 would read every common term's whole
// doclist to compute its IDF. Each term's IDF is estimated from its matches
// in that window scaled to the whole memory, with FTS5's own formula
// (log((N-n+0.5)/(n+0.5)), at least 1e-6), and an item scores the sum over
// the terms it holds: bm25 for one occurrence in an item of average length,
// so the scale matches the rare tier's scores.
func (m *MemoryIndex) rankCommon(ctx context.Context, common []string, capN, k int, cands map[int64]float64) error {
	var floor int64
	err := m.db.QueryRowContext(ctx, `SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?`, matchExpr(common), capN-1).Scan(&floor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("memory: search: %w", err)
	}
	// Sequence numbers stand in for counts: superseded items leave gaps, which
	// shift both sides of the estimate alike.
	var top int64
	if err := m.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM memory_items`).Scan(&top); err != nil {
		return fmt.Errorf("memory: search: %w", err)
	}
	n := float64(max(top, 1))
	window := float64(max(top-floor+1, 1))
	if floor == 0 {
		window = n
	}
	score := map[int64]float64{}
	for _, t := range common {
		rows, err := m.db.QueryContext(ctx, `SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? AND rowid >= ?`, matchExpr([]string{t}), floor)
		if err != nil {
			return fmt.Errorf("memory: search: %w", err)
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		hit := float64(len(seqs)) * n / window
		idf := math.Log((n - hit + 0.5) / (hit + 0.5))
		if idf <= 0 {
			idf = 1e-6
		}
		for _, seq := range seqs {
			score[seq] += idf
		}
	}
	ranked := make([]candidate, 0, len(score))
	for seq, v := range score {
		if _, ok := cands[seq]; !ok {
			ranked = append(ranked, candidate{seq, v})
		}
	}
	slices.SortFunc(ranked, func(a, b candidate) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.seq, a.seq)
	})
	for _, c := range ranked[:min(k, len(ranked))] {
		cands[c.seq] = c.score
	}
	return nil
}

// loadLive loads the live items among seqs.
func (m *MemoryIndex) loadLive(ctx context.Context, seqs map[int64]float64) (map[int64]agentos.MemoryItem, error) {
	ids := make([]int64, 0, len(seqs))
	for seq := range seqs {
		ids = append(ids, seq)
	}
	arg, _ := json.Marshal(ids)
	rows, err := m.db.QueryContext(ctx, `SELECT `+itemCols+` FROM memory_items WHERE seq IN (SELECT value FROM json_each(?)) AND superseded_by = ''`, string(arg))
	if err != nil {
		return nil, fmt.Errorf("memory: load hits: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]agentos.MemoryItem, len(ids))
	for rows.Next() {
		seq, it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out[seq] = it
	}
	return out, rows.Err()
}

// Scoped reads only seq and scope of the newest n scoped live items, then
// loads those keep wants: loading every column of thousands of items would
// cost more than the whole search.
func (m *MemoryIndex) Scoped(ctx context.Context, n int, keep func(scope []string) bool) ([]agentos.MemoryItem, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT seq, scope FROM memory_items WHERE superseded_by = '' AND scope != '[]' ORDER BY seq DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("memory: scoped items: %w", err)
	}
	defer rows.Close()
	match := map[int64]float64{}
	for rows.Next() {
		var seq int64
		var raw string
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, err
		}
		var scope []string
		if err := json.Unmarshal([]byte(raw), &scope); err != nil {
			return nil, fmt.Errorf("memory: item %d: scope: %w", seq, err)
		}
		if keep(scope) {
			match[seq] = 0
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(match) == 0 {
		return nil, nil
	}
	items, err := m.loadLive(ctx, match)
	if err != nil {
		return nil, err
	}
	out := make([]agentos.MemoryItem, 0, len(items))
	for _, it := range items {
		out = append(out, it)
	}
	return out, nil
}
