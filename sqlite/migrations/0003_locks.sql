-- Leased locks (red line 9): one row per held key. Keys acquired together in
-- one transaction share a lease id (the lock id a human passes to
-- `agentos lock release LEASE --force`). Times are Unix nanoseconds (UTC) so
-- expiry is an integer comparison.
CREATE TABLE locks (
	key          TEXT PRIMARY KEY,
	lease        TEXT NOT NULL,
	owner        TEXT NOT NULL,
	acquired_at  INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX locks_lease ON locks(lease);
