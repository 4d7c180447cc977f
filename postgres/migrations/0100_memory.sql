-- Memory: the same items, history and semantics as SQLite's 0002_memory.sql,
-- with PostgreSQL full-text search. An edit or a removal never deletes a row:
-- it sets superseded_by (the new item's id, or 'removed') so old MemoryPacks
-- stay traceable. Numbered 0100 so the core store's migrations can grow below.
CREATE TABLE memory_items (
	seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id               TEXT COLLATE "C" NOT NULL UNIQUE,
	kind             TEXT NOT NULL,
	text             TEXT NOT NULL,
	scope            JSONB NOT NULL DEFAULT '[]', -- array of path globs
	tags             JSONB NOT NULL DEFAULT '[]',
	source           TEXT COLLATE "C" NOT NULL DEFAULT '',
	author           TEXT NOT NULL DEFAULT '',
	confidence       DOUBLE PRECISION NOT NULL DEFAULT 1,
	created_at       TEXT NOT NULL,
	updated_at       TEXT NOT NULL,
	superseded_by    TEXT NOT NULL DEFAULT '',
	superseded_actor TEXT NOT NULL DEFAULT '',
	-- The words, stemmed by the 'english' configuration (Snowball's Porter
	-- stemmer, so "release branch" finds "release branches"): tags weigh A,
	-- the text B. Written with the row; the text never changes after.
	words            TSVECTOR NOT NULL
);
-- The full-text index holds live items only, as SQLite's memory_fts does.
-- fastupdate off: a search scans GIN's pending list linearly, which after a
-- bulk import made a one-match search 50 times slower until a vacuum; items
-- are written far less often than packs are built.
CREATE INDEX memory_items_words ON memory_items USING GIN (words) WITH (fastupdate = off) WHERE superseded_by = '';
-- Live items in insertion order (list), and live scoped items (packs pick
-- them up by path even when no word of the task matches).
CREATE INDEX memory_items_live ON memory_items(seq) WHERE superseded_by = '';
CREATE INDEX memory_items_scoped ON memory_items(seq) WHERE superseded_by = '' AND scope <> '[]';
CREATE INDEX memory_items_source ON memory_items(source) WHERE superseded_by = '';
