-- Large plan bodies (a write's content or a patch's diff of 1 MiB or more),
-- kept once by the SHA-256 of their bytes and referenced from the plan's
-- body, in 1 MiB chunks so neither writing nor reading one needs a second
-- copy of it in memory (issue 14).
CREATE TABLE blobs (hash TEXT PRIMARY KEY, size INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE blob_chunks (hash TEXT NOT NULL REFERENCES blobs(hash), seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (hash, seq));
-- A plan file of 1 MiB or more as submitted, and a large patch, are blobs too:
-- reading a task or a ReviewPack does not carry them.
ALTER TABLE tasks ADD COLUMN source_blob TEXT NOT NULL DEFAULT '';
ALTER TABLE patches ADD COLUMN diff_blob TEXT NOT NULL DEFAULT '';
ALTER TABLE patches ADD COLUMN diff_bytes INTEGER NOT NULL DEFAULT 0;
