-- The store's identity: one random id made when the store is created (or
-- first upgraded to this schema). Each repository using the store records it
-- (.agentos/store.json), so a database swapped for another or a fresh one is
-- noticed instead of used.
CREATE TABLE store_identity (id INTEGER PRIMARY KEY CHECK (id = 1), store TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO store_identity (id, store, created_at) VALUES (1, md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
