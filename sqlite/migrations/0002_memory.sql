-- Memory: items with their history, and a full-text index over live items only.
-- An edit or a removal never deletes a row: it sets superseded_by (the new
-- item's id, or 'removed') so old MemoryPacks stay traceable.
CREATE TABLE memory_items (
	seq              INTEGER PRIMARY KEY, -- the FTS rowid
	id               TEXT NOT NULL UNIQUE,
	kind             TEXT NOT NULL,
	text             TEXT NOT NULL,
	scope            TEXT NOT NULL DEFAULT '[]', -- JSON array of path globs
	tags             TEXT NOT NULL DEFAULT '[]', -- JSON array
	source           TEXT NOT NULL DEFAULT '',
	author           TEXT NOT NULL DEFAULT '',
	confidence       REAL NOT NULL DEFAULT 1,
	created_at       TEXT NOT NULL,
	updated_at       TEXT NOT NULL,
	superseded_by    TEXT NOT NULL DEFAULT '',
	superseded_actor TEXT NOT NULL DEFAULT ''
);
-- Live items in insertion order (list), and live scoped items (packs pick
-- them up by path even when no word of the task matches).
CREATE INDEX memory_items_live ON memory_items(seq) WHERE superseded_by = '';
CREATE INDEX memory_items_scoped ON memory_items(seq) WHERE superseded_by = '' AND scope != '[]';
CREATE INDEX memory_items_source ON memory_items(source) WHERE superseded_by = '';

-- Porter stemming so "release branch" finds "release branches". Contentless:
-- the text lives once, in memory_items; contentless_delete lets
-- an edit or removal drop a row by rowid so the index stays exact.
CREATE VIRTUAL TABLE memory_fts USING fts5(
	text, tags,
	content = '',
	contentless_delete = 1,
	tokenize = 'porter unicode61 remove_diacritics 2'
);
