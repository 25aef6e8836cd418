-- Channels: the upstream AI service accounts a team pools, and which groups may use them.

CREATE TABLE ai_service_accounts (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT,
    platform         TEXT    NOT NULL
                     CHECK (platform IN ('anthropic', 'claude-console', 'claude-oauth', 'openai', 'gemini')),
    base_url         TEXT,
    -- AEAD ciphertext of the upstream secret (API key or token); never plaintext.
    credentials      BLOB,
    status           TEXT    NOT NULL DEFAULT 'ACTIVE'
                     CHECK (status IN ('ACTIVE', 'DISABLED', 'MAINTENANCE', 'ERROR')),
    status_reason    TEXT,
    -- JSON array of model names; empty means every model.
    supported_models TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(supported_models)),
    current_load     INTEGER NOT NULL DEFAULT 0,
    daily_limit      INTEGER,
    cost_per_token   REAL,
    total_requests   INTEGER NOT NULL DEFAULT 0,
    total_tokens     INTEGER NOT NULL DEFAULT 0,
    last_used_at     INTEGER,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);
CREATE INDEX ai_service_accounts_status ON ai_service_accounts (status);

CREATE TABLE group_accounts (
    group_id   INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES ai_service_accounts (id) ON DELETE CASCADE,
    is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);
CREATE INDEX group_accounts_group_id ON group_accounts (group_id);

-- Every status change of a channel, so an operator can see why it is out of rotation.
CREATE TABLE account_status_history (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES ai_service_accounts (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    reason      TEXT,
    actor       TEXT    NOT NULL DEFAULT 'system',
    at          INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);
CREATE INDEX account_status_history_account_at ON account_status_history (account_id, at);
