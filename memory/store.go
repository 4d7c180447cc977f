package memory

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Store is the local memory over the agentos.db file. The tables come from
// the store's migrations (sqlite.Open applies them), so NewStore only needs
// the handle: memory.NewStore(db.SQL()).
type Store struct {
	db *sql.DB
	// Now is the clock; tests replace it.
	Now func() time.Time
	// NewID returns a fresh id with the given prefix; tests replace it.
	NewID func(prefix string) string
	// CommonCap is how many matches make a term common (see Search).
	CommonCap int
}

var _ Service = (*Store)(nil)

// NewStore returns the memory kept in db, a handle on a migrated agentos.db.
func NewStore(db *sql.DB) *Store {
	return &Store{db: db, Now: time.Now, NewID: newID, CommonCap: 2000}
}

const itemCols = `seq, id, kind, text, scope, tags, source, author, confidence, created_at, updated_at, superseded_by`

type scanner interface{ Scan(...any) error }

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
	if it.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
		return 0, it, fmt.Errorf("memory item %s: created_at: %w", it.ID, err)
	}
	if it.UpdatedAt, err = time.Parse(time.RFC3339Nano, updated); err != nil {
		return 0, it, fmt.Errorf("memory item %s: updated_at: %w", it.ID, err)
	}
	return seq, it, nil
}

func (s *Store) now() time.Time { return s.Now().UTC().Round(0) }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// prepare fills what Add assigns: id, times, author, and confidence 0 read as
// "unset" (1), since callers such as the coordinator rarely know better.
func (s *Store) prepare(it agentos.MemoryItem, now time.Time) (agentos.MemoryItem, error) {
	if it.Confidence == 0 {
		it.Confidence = 1
	}
	if err := normalize(&it); err != nil {
		return it, err
	}
	it.ID = s.NewID("mem_")
	it.CreatedAt, it.UpdatedAt = now, now
	it.SupersededBy = ""
	if strings.TrimSpace(it.Author) == "" {
		it.Author = string(agentos.System)
	}
	return it, nil
}

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
	scope, _ := json.Marshal(it.Scope)
	tags, _ := json.Marshal(it.Tags)
	res, err := in.item.ExecContext(ctx, it.ID, string(it.Kind), it.Text, string(scope), string(tags), it.Source, it.Author, it.Confidence, ts(it.CreatedAt), ts(it.UpdatedAt))
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

// Add stores a new item. It assigns ID, CreatedAt and UpdatedAt and clears
// SupersededBy; an empty Author becomes "system".
func (s *Store) Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	out, err := s.AddBatch(ctx, []agentos.MemoryItem{item})
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	return out[0], nil
}

// Remember is Add, under the name the coordinator's lessons and answers use.
func (s *Store) Remember(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	return s.Add(ctx, item)
}

// AddBatch stores items in one transaction (imports, bulk loads): all or none.
func (s *Store) AddBatch(ctx context.Context, items []agentos.MemoryItem) ([]agentos.MemoryItem, error) {
	now := s.now()
	out := make([]agentos.MemoryItem, len(items))
	for i, it := range items {
		p, err := s.prepare(it, now)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("memory: begin: %w", err)
	}
	defer tx.Rollback()
	in, err := newInserter(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	for _, it := range out {
		if err := in.insert(ctx, it); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("memory: commit: %w", err)
	}
	return out, nil
}

func notFound(id string) error {
	return agentos.Errorf(agentos.ENOTFOUND, "no memory item %q: see `agentos memory list`", id)
}

// Get returns an item, superseded or not.
func (s *Store) Get(ctx context.Context, id string) (agentos.MemoryItem, error) {
	_, it, err := scanItem(s.db.QueryRowContext(ctx, `SELECT `+itemCols+` FROM memory_items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return it, notFound(id)
	}
	if err != nil {
		return agentos.MemoryItem{}, fmt.Errorf("memory: get %s: %w", id, err)
	}
	return it, nil
}

// List returns items newest first.
func (s *Store) List(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error) {
	var where []string
	var args []any
	if !f.All {
		where = append(where, `superseded_by = ''`)
	}
	if f.Kind != "" {
		if _, err := ParseKind(string(f.Kind)); err != nil {
			return nil, err
		}
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
	args = append(args, clampLimit(f.Limit, 100))
	rows, err := s.db.QueryContext(ctx, q, args...)
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

// supersede marks the live item id as superseded by next (an id or Removed)
// and drops it from the index, inside tx. It returns the old item.
func (s *Store) supersede(ctx context.Context, tx *sql.Tx, id, next, actor string, now time.Time) (agentos.MemoryItem, error) {
	seq, old, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+itemCols+` FROM memory_items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return old, notFound(id)
	}
	if err != nil {
		return old, fmt.Errorf("memory: load %s: %w", id, err)
	}
	if old.SupersededBy != "" {
		if old.SupersededBy == Removed {
			return old, agentos.Errorf(agentos.ECONFLICT, "memory item %s was removed; add a new item instead", id)
		}
		return old, agentos.Errorf(agentos.ECONFLICT, "memory item %s was superseded by %s: edit or remove that one", id, old.SupersededBy)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memory_items SET superseded_by = ?, superseded_actor = ?, updated_at = ? WHERE seq = ?`, next, actor, ts(now), seq); err != nil {
		return old, fmt.Errorf("memory: supersede %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memory_fts WHERE rowid = ?`, seq); err != nil {
		return old, fmt.Errorf("memory: unindex %s: %w", id, err)
	}
	return old, nil
}

// Edit writes a new item with text, keeping kind, scope, tags, source and
// confidence, and supersedes id with it. The new item's author is actor.
func (s *Store) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return agentos.MemoryItem{}, fmt.Errorf("memory: begin: %w", err)
	}
	defer tx.Rollback()
	next := s.NewID("mem_")
	old, err := s.supersede(ctx, tx, id, next, actor, now)
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	it := old
	it.Text = text
	it.Author = actor
	if err := normalize(&it); err != nil {
		return agentos.MemoryItem{}, err
	}
	if it.Text == old.Text {
		return agentos.MemoryItem{}, agentos.Errorf(agentos.EINVALID, "memory item %s already says that: give a different text", id)
	}
	if strings.TrimSpace(it.Author) == "" {
		it.Author = string(agentos.System)
	}
	it.ID, it.CreatedAt, it.UpdatedAt, it.SupersededBy = next, now, now, ""
	in, err := newInserter(ctx, tx)
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	defer in.Close()
	if err := in.insert(ctx, it); err != nil {
		return agentos.MemoryItem{}, err
	}
	if err := tx.Commit(); err != nil {
		return agentos.MemoryItem{}, fmt.Errorf("memory: commit: %w", err)
	}
	return it, nil
}

// Remove supersedes id with nothing: history stays, search and packs forget it.
func (s *Store) Remove(ctx context.Context, id, actor string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("memory: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := s.supersede(ctx, tx, id, Removed, actor, s.now()); err != nil {
		return err
	}
	return tx.Commit()
}

// Optimize merges the full-text index into one segment; worth it after a bulk load.
func (s *Store) Optimize(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO memory_fts(memory_fts) VALUES ('optimize')`)
	return err
}

// Search ranks live items for q.Text with bm25, then weights each score by
// scope (items scoped to q.Paths ×1.5, items scoped elsewhere ×0.75, whole-
// repository items ×1) and by confidence (×(0.5+confidence/2)).
//
// bm25 must visit every match, and FTS5 computes each term's IDF by reading
// its whole doclist, so a naive query on a word most items hold costs time in
// proportion to the memory. Search avoids that in tiers: it counts each
// term's matches up to CommonCap (cheap: it stops there); rare terms are
// ranked by FTS5's bm25 over all their matches, while common ones are ranked
// only over the newest CommonCap items that hold any of them (a rowid range
// FTS5 seeks to), by the sum of their estimated IDFs (see rankCommon). A
// common word says little about relevance and recency is a fair prior for
// memory, so results barely change and cost no longer grows with the memory.
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	limit := clampLimit(q.Limit, 10)
	hits, err := s.search(ctx, Terms(q.Text), q.Paths, max(4*limit, 40))
	if err != nil {
		return nil, err
	}
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

type candidate struct {
	seq   int64
	score float64 // -bm25: higher is better
}

func (s *Store) search(ctx context.Context, terms, paths []string, k int) ([]Hit, error) {
	hits := []Hit{}
	if len(terms) == 0 {
		return hits, nil
	}
	capN := max(s.CommonCap, 1)
	type counted struct {
		term string
		n    int
	}
	var rare []counted
	var common []string
	for _, t := range terms {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ? LIMIT ?)`, matchExpr([]string{t}), capN+1).Scan(&n); err != nil {
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
		rows, err := s.db.QueryContext(ctx, query, args...)
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
		if err := s.rankCommon(ctx, common, capN, k, cands); err != nil {
			return nil, err
		}
	}
	if len(cands) == 0 {
		return hits, nil
	}
	items, err := s.loadLive(ctx, cands)
	if err != nil {
		return nil, err
	}
	for seq, it := range items {
		hits = append(hits, Hit{Item: it, Score: weigh(cands[seq], it, paths)})
	}
	sortHits(hits)
	return hits, nil
}

// rankCommon scores, into cands, the newest capN items holding any of the
// common terms, without bm25: bm25 would read every common term's whole
// doclist to compute its IDF. Each term's IDF is estimated from its matches
// in that window scaled to the whole memory, with FTS5's own formula
// (log((N-n+0.5)/(n+0.5)), at least 1e-6), and an item scores the sum over
// the terms it holds: bm25 for one occurrence in an item of average length,
// so the scale matches the rare tier's scores.
func (s *Store) rankCommon(ctx context.Context, common []string, capN, k int, cands map[int64]float64) error {
	var floor int64
	err := s.db.QueryRowContext(ctx, `SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?`, matchExpr(common), capN-1).Scan(&floor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("memory: search: %w", err)
	}
	// Sequence numbers stand in for counts: superseded items leave gaps, which
	// shift both sides of the estimate alike.
	var top int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM memory_items`).Scan(&top); err != nil {
		return fmt.Errorf("memory: search: %w", err)
	}
	n := float64(max(top, 1))
	window := float64(max(top-floor+1, 1))
	if floor == 0 {
		window = n
	}
	score := map[int64]float64{}
	for _, t := range common {
		rows, err := s.db.QueryContext(ctx, `SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? AND rowid >= ?`, matchExpr([]string{t}), floor)
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
func (s *Store) loadLive(ctx context.Context, seqs map[int64]float64) (map[int64]agentos.MemoryItem, error) {
	ids := make([]int64, 0, len(seqs))
	for seq := range seqs {
		ids = append(ids, seq)
	}
	arg, _ := json.Marshal(ids)
	rows, err := s.db.QueryContext(ctx, `SELECT `+itemCols+` FROM memory_items WHERE seq IN (SELECT value FROM json_each(?)) AND superseded_by = ''`, string(arg))
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

// Scope weights (see Search).
const (
	scopeHit  = 1.5
	scopeMiss = 0.75
	scopeOnly = 0.5 // base score of an item found by its scope alone, at most
)

func scopeFactor(it agentos.MemoryItem, paths []string) float64 {
	switch {
	case len(it.Scope) == 0 || len(paths) == 0:
		return 1
	case scopeMatches(it.Scope, paths):
		return scopeHit
	}
	return scopeMiss
}

// weigh applies scope and confidence, rounded to 9 significant digits so that
// packs hash the same wherever bm25 differs only in its last bits. Relative,
// not absolute, rounding: FTS5 clamps the IDF of a word most items hold to
// 1e-6, and those tiny scores must still order.
func weigh(text float64, it agentos.MemoryItem, paths []string) float64 {
	v := text * scopeFactor(it, paths) * (0.5 + it.Confidence/2)
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 9, 64), 64)
	return r
}

// sortHits orders by score, then newest first, then id: a total order.
func sortHits(h []Hit) {
	slices.SortFunc(h, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		if c := b.Item.CreatedAt.Compare(a.Item.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Item.ID, b.Item.ID)
	})
}
