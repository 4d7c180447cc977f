-- The store's identity: one random id made when the store is created (or
-- first upgraded to this schema). The repository records it beside the store
-- (.agentos/store.json), so a store swapped for another repository's or for
-- a fresh one is noticed instead of used.
CREATE TABLE store_identity (id INTEGER PRIMARY KEY CHECK (id = 1), store TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO store_identity (id, store, created_at) VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
