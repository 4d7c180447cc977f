-- Core pipeline: tasks, intents, plans, runs, step records, packs, reviews
-- and the hash-chained audit log.
CREATE TABLE tasks (
	id         TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	mode       TEXT NOT NULL,
	goal       TEXT NOT NULL,
	request    TEXT NOT NULL DEFAULT '',
	planner    TEXT NOT NULL DEFAULT '',
	submitter  TEXT NOT NULL,
	labels     TEXT NOT NULL DEFAULT '[]',
	target     TEXT NOT NULL,
	intent_id  TEXT NOT NULL DEFAULT '',
	plan_id    TEXT NOT NULL DEFAULT '',
	plan_hash  TEXT NOT NULL DEFAULT '',
	run_id     TEXT NOT NULL DEFAULT '',
	commit_sha TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL DEFAULT '',
	auto_apply INTEGER NOT NULL DEFAULT 0, -- continue to apply after planning/answers (run, submit)
	source     TEXT NOT NULL DEFAULT '',   -- the plan file's bytes, so a re-plan uses what was submitted
	source_path TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX tasks_state ON tasks(state);

CREATE TABLE intents (
	id      TEXT PRIMARY KEY,
	task    TEXT NOT NULL REFERENCES tasks(id),
	hash    TEXT NOT NULL,
	body    TEXT NOT NULL
);

CREATE TABLE plans (
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	hash       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX plans_task ON plans(task);

CREATE TABLE memory_packs (
	id   TEXT PRIMARY KEY,
	task TEXT NOT NULL,
	hash TEXT NOT NULL,
	body TEXT NOT NULL
);
CREATE INDEX memory_packs_hash ON memory_packs(hash);

CREATE TABLE runs (
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	plan_hash  TEXT NOT NULL,
	started_at TEXT NOT NULL,
	ended_at   TEXT NOT NULL DEFAULT '',
	outcome    TEXT NOT NULL DEFAULT '',
	worktree   TEXT NOT NULL DEFAULT '',
	commit_sha TEXT NOT NULL DEFAULT '',
	unconfined INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_task ON runs(task);

CREATE TABLE step_records (
	run   TEXT NOT NULL REFERENCES runs(id),
	seq   INTEGER NOT NULL,
	phase TEXT NOT NULL,
	body  TEXT NOT NULL,
	PRIMARY KEY (run, seq)
);

CREATE TABLE patches (
	run       TEXT NOT NULL REFERENCES runs(id),
	seq       INTEGER NOT NULL,
	path      TEXT NOT NULL,
	diff_hash TEXT NOT NULL,
	intent_id TEXT NOT NULL,
	diff      TEXT NOT NULL,
	PRIMARY KEY (run, seq)
);

CREATE TABLE commits (
	sha       TEXT PRIMARY KEY,
	task      TEXT NOT NULL REFERENCES tasks(id),
	run       TEXT NOT NULL,
	branch    TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	diff_hash TEXT NOT NULL,
	intent_id TEXT NOT NULL,
	kind      TEXT NOT NULL DEFAULT 'change', -- change | rollback
	trailers  TEXT NOT NULL
);
CREATE INDEX commits_task ON commits(task);

CREATE TABLE gate_decisions (
	task TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	seq  INTEGER NOT NULL,
	body TEXT NOT NULL,
	PRIMARY KEY (task, plan_hash, seq)
);

CREATE TABLE question_packs (
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	hash       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX question_packs_task ON question_packs(task);

CREATE TABLE answer_packs (
	hash       TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	pack       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);

CREATE TABLE reviews (
	task       TEXT NOT NULL,
	run        TEXT NOT NULL,
	hash       TEXT NOT NULL,
	json       TEXT NOT NULL,
	markdown   TEXT NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (task, run)
);

-- The audit log: append-only, each row's hash covers the previous one.
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	time      TEXT NOT NULL,
	task      TEXT NOT NULL DEFAULT '',
	run       TEXT NOT NULL DEFAULT '',
	actor     TEXT NOT NULL,
	kind      TEXT NOT NULL,
	data      TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE INDEX audit_task ON audit(task);
