-- Adds the TEMP_ERROR and RATE_LIMITED channel states and what they need: when the state ends,
-- the last server error and the error count of the sliding window.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt: new table, copy every row,
-- drop, rename, recreate the indexes. The runner applies this with foreign keys off and checks
-- them afterwards, so bindings, history and request-log rows keep pointing at the same ids.

CREATE TABLE ai_service_accounts_new (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT,
    platform         TEXT    NOT NULL
                     CHECK (platform IN ('anthropic', 'claude-console', 'claude-oauth', 'openai', 'gemini')),
    base_url         TEXT,
    credentials      BLOB,
    status           TEXT    NOT NULL DEFAULT 'ACTIVE'
                     CHECK (status IN ('ACTIVE', 'DISABLED', 'MAINTENANCE', 'ERROR', 'TEMP_ERROR', 'RATE_LIMITED')),
    status_reason    TEXT,
    -- When a TEMP_ERROR or RATE_LIMITED state is due to end.
    status_until     INTEGER,
    last_error_at    INTEGER,
    error_count      INTEGER NOT NULL DEFAULT 0 CHECK (error_count >= 0),
    supported_models TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(supported_models)),
    priority         INTEGER NOT NULL DEFAULT 50 CHECK (priority >= 0),
    weight           INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0),
    total_requests   INTEGER NOT NULL DEFAULT 0,
    total_tokens     INTEGER NOT NULL DEFAULT 0,
    last_used_at     INTEGER,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);

INSERT INTO ai_service_accounts_new
    (id, name, description, platform, base_url, credentials, status, status_reason,
     supported_models, priority, weight, total_requests, total_tokens, last_used_at,
     created_at, updated_at)
SELECT id, name, description, platform, base_url, credentials, status, status_reason,
       supported_models, priority, weight, total_requests, total_tokens, last_used_at,
       created_at, updated_at
FROM ai_service_accounts;

DROP TABLE ai_service_accounts;
ALTER TABLE ai_service_accounts_new RENAME TO ai_service_accounts;

CREATE INDEX ai_service_accounts_status ON ai_service_accounts (status);
CREATE UNIQUE INDEX ai_service_accounts_name ON ai_service_accounts (name COLLATE NOCASE);
CREATE INDEX ai_service_accounts_status_priority ON ai_service_accounts (status, priority);
-- The recovery timer scans for states whose end has passed.
CREATE INDEX ai_service_accounts_status_until ON ai_service_accounts (status_until)
    WHERE status_until IS NOT NULL;
