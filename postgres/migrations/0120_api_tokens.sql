-- Bearer tokens of `agentos serve` (package tokens): the SHA-256 of the
-- secret, never the secret; creating and revoking one are audited.
CREATE TABLE api_tokens (
  id         TEXT PRIMARY KEY,
  name       TEXT COLLATE "C" NOT NULL,
  actor      TEXT COLLATE "C" NOT NULL,
  role       TEXT COLLATE "C" NOT NULL,
  hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at TEXT COLLATE "C" NOT NULL,
  created_by TEXT COLLATE "C" NOT NULL,
  expires_at TEXT COLLATE "C" NOT NULL DEFAULT '',
  revoked_at TEXT COLLATE "C" NOT NULL DEFAULT '',
  revoked_by TEXT COLLATE "C" NOT NULL DEFAULT ''
);
