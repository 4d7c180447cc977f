package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Index is the part of the memory that is SQL: where items are kept, their
// history, and the full-text index that finds them by their words. The store
// adapters implement it (package sqlite with FTS5, package postgres with
// tsvector); Store puts the rules on top (validation, ids and times,
// supersede checks, weighting, packs), so every adapter keeps the same
// semantics and passes the same suite (package memory/memorytest).
//
// It is declared here rather than in the root package because it speaks the
// memory's own types (ListFilter, Hit) and only Store consumes it: the
// pipeline sees Service.
//
// Both adapters stem words with Porter's algorithm (FTS5's porter tokenizer,
// PostgreSQL's Snowball 'english'), so "branches", "branching" and "branch"
// are one word.
type Index interface {
	// Insert stores items, already checked and with ids and times set, and
	// appends evs to the store's audit chain, in one transaction: all or
	// none.
	Insert(ctx context.Context, items []agentos.MemoryItem, evs ...agentos.EventInput) error
	// Item returns an item, superseded or not; ok is false when id is unknown.
	Item(ctx context.Context, id string) (it agentos.MemoryItem, ok bool, err error)
	// Items returns items in the reverse order of their insertion, narrowed
	// by f (f.Kind is checked and f.Limit clamped by the caller).
	Items(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error)
	// Supersede, in one transaction, marks the live item id superseded by
	// next (by Removed when next is nil) as actor at the given time, drops it
	// from the full-text index, inserts next and appends evs to the audit
	// chain. ECONFLICT when id is no longer live: the caller checked it, so
	// another writer came first.
	Supersede(ctx context.Context, id string, next *agentos.MemoryItem, actor string, at time.Time, evs ...agentos.EventInput) error
	// Match returns live items holding any of terms (words from Terms,
	// matched after stemming) with a text relevance Score, higher is better:
	// at least the best k of them, when there are that many.
	Match(ctx context.Context, terms []string, k int) ([]Hit, error)
	// Scoped returns live items with a scope for which keep(scope) is true,
	// among the newest n items that have a scope.
	Scoped(ctx context.Context, n int, keep func(scope []string) bool) ([]agentos.MemoryItem, error)
}

// Store is the memory over a store adapter's Index:
// memory.NewStore(db.Memory()).
type Store struct {
	ix Index
	// Now is the clock; tests replace it.
	Now func() time.Time
	// NewID returns a fresh id with the given prefix; tests replace it.
	NewID func(prefix string) string

	// audit, when set (Audited), gives each write's audit events, which
	// the index appends in the write's own transaction.
	audit func(op string, it *agentos.MemoryItem, supersedes, actor string) agentos.EventInput
}

// events returns the audit events of one write (none without audit).
func (s *Store) events(op string, it *agentos.MemoryItem, supersedes, actor string) []agentos.EventInput {
	if s.audit == nil {
		return nil
	}
	return []agentos.EventInput{s.audit(op, it, supersedes, actor)}
}

var _ Service = (*Store)(nil)

// NewStore returns the memory kept in ix.
func NewStore(ix Index) *Store {
	return &Store{ix: ix, Now: time.Now, NewID: newID}
}

func (s *Store) now() time.Time { return s.Now().UTC().Round(0) }

// prepare fills what Add assigns: id, times, author, and confidence 0 read as
// "unset" (1), since callers such as the coordinator rarely know better.
// What an untrusted author (see Trusted) claims to be a fact, convention,
// decision, answer or lesson is kept as a quoted observation, its claim
// named, its confidence capped: only a person promotes it.
func (s *Store) prepare(it agentos.MemoryItem, now time.Time) (agentos.MemoryItem, error) {
	if it.Confidence == 0 {
		it.Confidence = 1
	}
	it.Author = strings.TrimSpace(it.Author)
	if it.Author == "" {
		it.Author = string(agentos.System)
	}
	if !Trusted(it.Author) && it.Kind != agentos.MemoryObservation {
		if _, err := ParseKind(string(it.Kind)); err != nil {
			return it, err
		}
		it.Text = Quote(fmt.Sprintf("a %s claimed by %s", it.Kind, it.Author), it.Text)
		it.Tags = append(it.Tags, "claimed-"+string(it.Kind))
		it.Kind = agentos.MemoryObservation
	}
	if it.Kind == agentos.MemoryObservation {
		it.Confidence = min(it.Confidence, MaxObservationConfidence)
	}
	if err := normalize(&it); err != nil {
		return it, err
	}
	it.ID = s.NewID("mem_")
	it.CreatedAt, it.UpdatedAt = now, now
	it.SupersededBy = ""
	return it, nil
}

// mayChange refuses an untrusted actor changing what a person vouched for:
// an agent may edit or remove observations, never lessons or conventions.
func mayChange(old agentos.MemoryItem, actor, verb string) error {
	if old.Kind == agentos.MemoryObservation || Trusted(orSystem(actor)) {
		return nil
	}
	return agentos.Errorf(agentos.EDENIED, "%s cannot %s memory item %s (a %s): only a person changes what people vouched for", orSystem(actor), verb, old.ID, old.Kind)
}

func orSystem(actor string) string {
	if strings.TrimSpace(actor) == "" {
		return string(agentos.System)
	}
	return actor
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
	var evs []agentos.EventInput
	for i := range out {
		evs = append(evs, s.events("add", &out[i], "", out[i].Author)...)
	}
	if err := s.ix.Insert(ctx, out, evs...); err != nil {
		return nil, err
	}
	return out, nil
}

func notFound(id string) error {
	return agentos.Errorf(agentos.ENOTFOUND, "no memory item %q: see `agentos memory list`", id)
}

// Get returns an item, superseded or not.
func (s *Store) Get(ctx context.Context, id string) (agentos.MemoryItem, error) {
	it, ok, err := s.ix.Item(ctx, id)
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	if !ok {
		return agentos.MemoryItem{}, notFound(id)
	}
	return it, nil
}

// List returns items newest first.
func (s *Store) List(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error) {
	if f.Kind != "" {
		if _, err := ParseKind(string(f.Kind)); err != nil {
			return nil, err
		}
	}
	f.Limit = clampLimit(f.Limit, 100)
	items, err := s.ix.Items(ctx, f)
	if items == nil && err == nil {
		items = []agentos.MemoryItem{}
	}
	return items, err
}

// live returns the live item id, or why it cannot be superseded.
func (s *Store) live(ctx context.Context, id string) (agentos.MemoryItem, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return old, err
	}
	switch old.SupersededBy {
	case "":
		return old, nil
	case Removed:
		return old, agentos.Errorf(agentos.ECONFLICT, "memory item %s was removed; add a new item instead", id)
	}
	return old, agentos.Errorf(agentos.ECONFLICT, "memory item %s was superseded by %s: edit or remove that one", id, old.SupersededBy)
}

// Edit writes a new item with text, keeping kind, scope, tags, source and
// confidence, and supersedes id with it. The new item's author is actor.
func (s *Store) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	old, err := s.live(ctx, id)
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	if err := mayChange(old, actor, "edit"); err != nil {
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
	now := s.now()
	it.ID, it.CreatedAt, it.UpdatedAt, it.SupersededBy = s.NewID("mem_"), now, now, ""
	if err := s.ix.Supersede(ctx, id, &it, actor, now, s.events("edit", &it, id, actor)...); err != nil {
		return agentos.MemoryItem{}, err
	}
	return it, nil
}

// Remove supersedes id with nothing: history stays, search and packs forget it.
func (s *Store) Remove(ctx context.Context, id, actor string) error {
	old, err := s.live(ctx, id)
	if err != nil {
		return err
	}
	if err := mayChange(old, actor, "remove"); err != nil {
		return err
	}
	return s.ix.Supersede(ctx, id, nil, actor, s.now(), s.events("remove", nil, id, actor)...)
}

// Promote is a person vouching for item id (see Service.Promote).
func (s *Store) Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error) {
	if !agentos.Actor(actor).IsHuman() {
		return agentos.MemoryItem{}, agentos.Errorf(agentos.EDENIED, "%s cannot promote memory item %s: only a person vouches for memory", orSystem(actor), id)
	}
	if _, err := ParseKind(string(kind)); err != nil {
		return agentos.MemoryItem{}, err
	}
	if kind == agentos.MemoryObservation {
		return agentos.MemoryItem{}, agentos.Errorf(agentos.EINVALID, "promote %s --kind observation: promote to fact, convention, decision, answer or lesson", id)
	}
	old, err := s.live(ctx, id)
	if err != nil {
		return agentos.MemoryItem{}, err
	}
	if old.Kind == kind && strings.TrimSpace(text) == "" {
		return agentos.MemoryItem{}, agentos.Errorf(agentos.EINVALID, "memory item %s is already a %s", id, kind)
	}
	it := old
	it.Kind, it.Author, it.Confidence = kind, actor, 1
	it.Text = text
	if strings.TrimSpace(text) == "" {
		it.Text = unquote(old.Text)
	}
	it.Tags = slices.DeleteFunc(slices.Clone(old.Tags), func(t string) bool { return strings.HasPrefix(t, "claimed-") })
	if err := normalize(&it); err != nil {
		return agentos.MemoryItem{}, err
	}
	now := s.now()
	it.ID, it.CreatedAt, it.UpdatedAt, it.SupersededBy = s.NewID("mem_"), now, now, ""
	if err := s.ix.Supersede(ctx, id, &it, actor, now, s.events("promote", &it, id, actor)...); err != nil {
		return agentos.MemoryItem{}, err
	}
	return it, nil
}

// Search ranks live items for q.Text by the index's text relevance, then
// weights each score by scope (items scoped to q.Paths ×1.5, items scoped
// elsewhere ×0.75, whole-repository items ×1) and by confidence
// (×(0.5+confidence/2)).
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

// search weighs and orders what the index matches for terms.
func (s *Store) search(ctx context.Context, terms, paths []string, k int) ([]Hit, error) {
	if len(terms) == 0 {
		return []Hit{}, nil
	}
	hits, err := s.ix.Match(ctx, terms, k)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []Hit{}
	}
	for i := range hits {
		hits[i].Score = weigh(hits[i].Score, hits[i].Item, paths)
	}
	sortHits(hits)
	return hits, nil
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

// observationWeight ranks an observation below anything a person said.
const observationWeight = 0.5

// weigh applies scope, kind and confidence, rounded to 9 significant digits so that
// packs hash the same wherever the text score differs only in its last bits.
// Relative, not absolute, rounding: FTS5 clamps the IDF of a word most items
// hold to 1e-6, and those tiny scores must still order.
func weigh(text float64, it agentos.MemoryItem, paths []string) float64 {
	v := text * scopeFactor(it, paths) * (0.5 + it.Confidence/2)
	if it.Kind == agentos.MemoryObservation {
		v *= observationWeight
	}
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
