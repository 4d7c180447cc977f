-- Approvals and rejections of plans (approval package). An approval binds
-- the plan (id and hash) and what the approver saw: the base commit, the
-- policy hash and the MemoryPack hash. Rows are never deleted: a re-plan sets
-- cleared_at so earlier approvals stay in the history but no longer count.
CREATE TABLE approvals (
	id          INTEGER PRIMARY KEY,
	task        TEXT NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('approve', 'reject')),
	plan_id     TEXT NOT NULL,
	plan_hash   TEXT NOT NULL,
	base_commit TEXT NOT NULL,
	policy_hash TEXT NOT NULL,
	memory_hash TEXT NOT NULL,
	actor       TEXT NOT NULL CHECK (actor LIKE 'human:_%'),
	comment     TEXT NOT NULL DEFAULT '',
	rules       TEXT NOT NULL DEFAULT '[]',
	created_at  TEXT NOT NULL,
	cleared_at  TEXT NOT NULL DEFAULT '',
	cleared_why TEXT NOT NULL DEFAULT ''
);
CREATE INDEX approvals_task ON approvals(task, plan_hash);
