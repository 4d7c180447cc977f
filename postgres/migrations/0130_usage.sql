-- What model calls consumed (issue 18, budgets). As SQLite's migration 0030.
CREATE TABLE usage (
	id                 BIGSERIAL PRIMARY KEY,
	task               TEXT COLLATE "C" NOT NULL,
	source             TEXT NOT NULL,
	model              TEXT NOT NULL,
	input_tokens       BIGINT NOT NULL CHECK (input_tokens >= 0),
	output_tokens      BIGINT NOT NULL CHECK (output_tokens >= 0),
	cache_read_tokens  BIGINT NOT NULL CHECK (cache_read_tokens >= 0),
	cache_write_tokens BIGINT NOT NULL CHECK (cache_write_tokens >= 0),
	tokens             BIGINT NOT NULL CHECK (tokens >= 0),
	cost_micro_usd     BIGINT NOT NULL CHECK (cost_micro_usd >= 0),
	priced             TEXT NOT NULL,
	created_at         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX usage_task ON usage(task, id);
CREATE INDEX usage_time ON usage(created_at);
