-- Times were stored as RFC 3339 text with trailing zeros trimmed ("…:07Z",
-- "…:07.1Z", "…:07.15Z"), which sorts as text out of time order within a
-- second: "newest first" misordered tasks created close together. From now
-- on they are written fixed-width (nanoseconds, "…:07.100000000Z"), and the
-- columns that are sorted or compared as text are rewritten to it here.
-- The rewrite leaves fixed-width and empty values as they are. (Other times,
-- the audit log's among them, are only read back, never compared as text:
-- they stay as written.)
UPDATE tasks SET created_at = CASE WHEN created_at LIKE '____-__-__T__:__:__%Z' THEN substr(created_at, 1, 19) || '.' || substr(CASE WHEN instr(created_at, '.') > 0 THEN substr(created_at, 21, length(created_at) - 21) ELSE '' END || '000000000', 1, 9) || 'Z' ELSE created_at END,
	updated_at = CASE WHEN updated_at LIKE '____-__-__T__:__:__%Z' THEN substr(updated_at, 1, 19) || '.' || substr(CASE WHEN instr(updated_at, '.') > 0 THEN substr(updated_at, 21, length(updated_at) - 21) ELSE '' END || '000000000', 1, 9) || 'Z' ELSE updated_at END;
UPDATE runs SET started_at = CASE WHEN started_at LIKE '____-__-__T__:__:__%Z' THEN substr(started_at, 1, 19) || '.' || substr(CASE WHEN instr(started_at, '.') > 0 THEN substr(started_at, 21, length(started_at) - 21) ELSE '' END || '000000000', 1, 9) || 'Z' ELSE started_at END,
	ended_at = CASE WHEN ended_at LIKE '____-__-__T__:__:__%Z' THEN substr(ended_at, 1, 19) || '.' || substr(CASE WHEN instr(ended_at, '.') > 0 THEN substr(ended_at, 21, length(ended_at) - 21) ELSE '' END || '000000000', 1, 9) || 'Z' ELSE ended_at END;
UPDATE reviews SET created_at = CASE WHEN created_at LIKE '____-__-__T__:__:__%Z' THEN substr(created_at, 1, 19) || '.' || substr(CASE WHEN instr(created_at, '.') > 0 THEN substr(created_at, 21, length(created_at) - 21) ELSE '' END || '000000000', 1, 9) || 'Z' ELSE created_at END;
