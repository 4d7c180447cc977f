-- The PostgreSQL store: the same tables as SQLite's migrations 0001 and
-- 0003-0006 (memory arrives with the memory adapter). Times are RFC 3339
-- text with nanoseconds, as in SQLite: an audit event's hash covers its time
-- to the nanosecond, and timestamptz keeps microseconds only. Lease times are
-- Unix nanoseconds so expiry is an integer comparison. `pos` columns keep
-- insertion order where SQLite orders by rowid. Bytes that need not be UTF-8
-- (a plan file as submitted, a diff, a ReviewPack's Markdown) are bytea.
-- Columns that are sorted or matched by prefix (task ids, lock keys) use the
-- "C" collation: byte order, as in SQLite, whatever the database's locale.
CREATE TABLE tasks (
	id          TEXT COLLATE "C" PRIMARY KEY,
	state       TEXT NOT NULL,
	mode        TEXT NOT NULL,
	goal        TEXT NOT NULL,
	request     TEXT NOT NULL DEFAULT '',
	planner     TEXT NOT NULL DEFAULT '',
	submitter   TEXT NOT NULL,
	labels      TEXT NOT NULL DEFAULT '[]',
	target      TEXT NOT NULL,
	intent_id   TEXT NOT NULL DEFAULT '',
	plan_id     TEXT NOT NULL DEFAULT '',
	plan_hash   TEXT NOT NULL DEFAULT '',
	run_id      TEXT NOT NULL DEFAULT '',
	commit_sha  TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	auto_apply  BOOLEAN NOT NULL DEFAULT false,
	auto_queue  BOOLEAN NOT NULL DEFAULT false,
	source      BYTEA NOT NULL DEFAULT '',
	source_path TEXT NOT NULL DEFAULT '',
	created_at  TEXT COLLATE "C" NOT NULL,
	updated_at  TEXT NOT NULL
);
CREATE INDEX tasks_state ON tasks(state);

CREATE TABLE intents (
	id   TEXT PRIMARY KEY,
	task TEXT NOT NULL REFERENCES tasks(id),
	hash TEXT NOT NULL,
	body TEXT NOT NULL
);

CREATE TABLE plans (
	pos        BIGSERIAL UNIQUE,
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	hash       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX plans_task ON plans(task);

CREATE TABLE memory_packs (
	pos  BIGSERIAL UNIQUE,
	id   TEXT PRIMARY KEY,
	task TEXT NOT NULL,
	hash TEXT NOT NULL,
	body TEXT NOT NULL
);
CREATE INDEX memory_packs_hash ON memory_packs(hash);
CREATE INDEX memory_packs_task ON memory_packs(task);

CREATE TABLE runs (
	pos        BIGSERIAL UNIQUE,
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	plan_hash  TEXT NOT NULL,
	started_at TEXT NOT NULL,
	ended_at   TEXT NOT NULL DEFAULT '',
	outcome    TEXT NOT NULL DEFAULT '',
	worktree   TEXT NOT NULL DEFAULT '',
	commit_sha TEXT NOT NULL DEFAULT '',
	unconfined BOOLEAN NOT NULL DEFAULT false
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
	diff      BYTEA NOT NULL,
	PRIMARY KEY (run, seq)
);

CREATE TABLE commits (
	pos       BIGSERIAL UNIQUE,
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
	task      TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	body      TEXT NOT NULL,
	PRIMARY KEY (task, plan_hash, seq)
);

CREATE TABLE question_packs (
	pos        BIGSERIAL UNIQUE,
	id         TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	hash       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX question_packs_task ON question_packs(task);

CREATE TABLE answer_packs (
	pos        BIGSERIAL UNIQUE,
	hash       TEXT PRIMARY KEY,
	task       TEXT NOT NULL REFERENCES tasks(id),
	pack       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX answer_packs_task ON answer_packs(task);

-- A ReviewPack is written once per run: a second one is an error, never a
-- replacement.
CREATE TABLE reviews (
	pos        BIGSERIAL UNIQUE,
	task       TEXT NOT NULL,
	run        TEXT NOT NULL,
	hash       TEXT NOT NULL,
	json       TEXT NOT NULL,
	markdown   BYTEA NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (task, run)
);

-- The audit log: append-only, each row's hash covers the previous one.
-- data is the canonical JSON exactly as hashed (text, never jsonb, which
-- would re-encode it).
CREATE TABLE audit (
	seq       BIGINT PRIMARY KEY,
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
-- The one row every append locks (SELECT ... FOR UPDATE), so appends from
-- any number of processes form one linear chain (see audit.go).
CREATE TABLE audit_append_lock (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO audit_append_lock (id) VALUES (1);

-- Leased locks (red line 9): one row per held key; keys acquired together
-- share a lease id.
CREATE TABLE locks (
	key          TEXT COLLATE "C" PRIMARY KEY,
	lease        TEXT COLLATE "C" NOT NULL,
	owner        TEXT NOT NULL,
	token        BIGINT NOT NULL,
	acquired_at  BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL
);
CREATE INDEX locks_lease ON locks(lease);
-- Fencing tokens: every new lease takes the next number. Acquisitions lock
-- this row first, which also serialises them (see lock.go).
CREATE TABLE lease_counter (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL);
INSERT INTO lease_counter (id, last) VALUES (1, 0);

-- Approvals and rejections of plans; rows are never deleted (cleared_at
-- turns them into history).
CREATE TABLE approvals (
	id          BIGSERIAL PRIMARY KEY,
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
