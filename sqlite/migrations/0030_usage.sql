-- What model calls consumed (issue 18, budgets): one row per planner call
-- or contractor usage report, counted against the policy's budgets and
-- reported by `agentos usage`. Times are fixed-width UTC text, so a day's
-- rows are a range on created_at.
CREATE TABLE usage (
	id                 INTEGER PRIMARY KEY,
	task               TEXT NOT NULL,
	source             TEXT NOT NULL,
	model              TEXT NOT NULL,
	input_tokens       INTEGER NOT NULL CHECK (input_tokens >= 0),
	output_tokens      INTEGER NOT NULL CHECK (output_tokens >= 0),
	cache_read_tokens  INTEGER NOT NULL CHECK (cache_read_tokens >= 0),
	cache_write_tokens INTEGER NOT NULL CHECK (cache_write_tokens >= 0),
	tokens             INTEGER NOT NULL CHECK (tokens >= 0),
	cost_micro_usd     INTEGER NOT NULL CHECK (cost_micro_usd >= 0),
	priced             TEXT NOT NULL,
	created_at         TEXT NOT NULL
);
CREATE INDEX usage_task ON usage(task, id);
CREATE INDEX usage_time ON usage(created_at);
