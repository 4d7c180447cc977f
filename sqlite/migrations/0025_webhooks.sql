-- One delivery cursor per webhook endpoint (package webhooks): every audit
-- event up to seq is handled, and attempts were made on event `event`. The
-- deliverer moves it with a compare-and-swap in the transaction that audits
-- the attempt, so a restart resumes exactly where delivery stopped.
CREATE TABLE webhook_cursors (
  endpoint    TEXT PRIMARY KEY,
  seq         INTEGER NOT NULL,
  event       INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_status TEXT NOT NULL DEFAULT '',
  last_error  TEXT NOT NULL DEFAULT '',
  last_http   INTEGER NOT NULL DEFAULT 0,
  last_time   TEXT NOT NULL DEFAULT '',
  updated_at  TEXT NOT NULL
);
