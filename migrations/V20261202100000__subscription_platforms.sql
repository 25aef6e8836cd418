-- Two more subscription platforms: ChatGPT (`codex-oauth`, for Codex CLI) and Google accounts
-- through Code Assist (`gemini-oauth`, for Gemini CLI). The platform CHECK cannot be altered in
-- SQLite, so the table is rebuilt as in V20250116000001 (the runner has foreign keys off and
-- checks them afterwards); its indexes and triggers go with the old table and are made again.
-- A new column holds the upstream's own account that a subscription's requests name.

CREATE TABLE ai_service_accounts_new (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT,
    platform         TEXT    NOT NULL
                     CHECK (platform IN ('anthropic', 'claude-console', 'claude-oauth', 'openai', 'gemini',
                                         'codex-oauth', 'gemini-oauth')),
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
    updated_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    account_type TEXT NOT NULL DEFAULT 'shared'
    CHECK (account_type IN ('shared', 'dedicated')),
    auth_type TEXT NOT NULL DEFAULT 'api_key'
    CHECK (auth_type IN ('api_key', 'oauth', 'manual')),
    oauth_access_token BLOB,
    oauth_refresh_token BLOB,
    oauth_expires_at INTEGER,
    oauth_scopes TEXT,
    manual_access_token BLOB,
    manual_refresh_token BLOB,
    gemini_project_id TEXT,
    gemini_location TEXT,
    claude_console_user_agent TEXT,
    claude_console_rate_limit_duration INTEGER
    CHECK (claude_console_rate_limit_duration IS NULL OR claude_console_rate_limit_duration > 0),
    model_mapping TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(model_mapping)),
    proxy_type TEXT
    CHECK (proxy_type IS NULL OR proxy_type IN ('http', 'https', 'socks5', 'socks5h')),
    proxy_host TEXT,
    proxy_port INTEGER
    CHECK (proxy_port IS NULL OR proxy_port BETWEEN 1 AND 65535),
    proxy_username TEXT,
    proxy_password BLOB,
    validation_status TEXT NOT NULL DEFAULT 'unvalidated'
    CHECK (validation_status IN ('unvalidated', 'valid', 'invalid')),
    validation_message TEXT,
    last_validated_at INTEGER,
    upstream_models TEXT,
    upstream_models_at INTEGER,
    errors_reset_at INTEGER,
    allow_overage INTEGER NOT NULL DEFAULT 0,
    max_concurrency INTEGER,
    -- The ChatGPT account id (codex-oauth) or Google Cloud project (gemini-oauth) that the
    -- account's requests name.
    workspace TEXT);

INSERT INTO ai_service_accounts_new (id, name, description, platform, base_url, credentials, status, status_reason, status_until, last_error_at, error_count, supported_models, priority, weight, total_requests, total_tokens, last_used_at, created_at, updated_at, account_type, auth_type, oauth_access_token, oauth_refresh_token, oauth_expires_at, oauth_scopes, manual_access_token, manual_refresh_token, gemini_project_id, gemini_location, claude_console_user_agent, claude_console_rate_limit_duration, model_mapping, proxy_type, proxy_host, proxy_port, proxy_username, proxy_password, validation_status, validation_message, last_validated_at, upstream_models, upstream_models_at, errors_reset_at, allow_overage, max_concurrency)
SELECT id, name, description, platform, base_url, credentials, status, status_reason, status_until, last_error_at, error_count, supported_models, priority, weight, total_requests, total_tokens, last_used_at, created_at, updated_at, account_type, auth_type, oauth_access_token, oauth_refresh_token, oauth_expires_at, oauth_scopes, manual_access_token, manual_refresh_token, gemini_project_id, gemini_location, claude_console_user_agent, claude_console_rate_limit_duration, model_mapping, proxy_type, proxy_host, proxy_port, proxy_username, proxy_password, validation_status, validation_message, last_validated_at, upstream_models, upstream_models_at, errors_reset_at, allow_overage, max_concurrency
FROM ai_service_accounts;

DROP TABLE ai_service_accounts;
ALTER TABLE ai_service_accounts_new RENAME TO ai_service_accounts;

CREATE INDEX ai_service_accounts_status ON ai_service_accounts (status);
CREATE UNIQUE INDEX ai_service_accounts_name ON ai_service_accounts (name COLLATE NOCASE);
CREATE INDEX ai_service_accounts_status_priority ON ai_service_accounts (status, priority);
CREATE INDEX ai_service_accounts_status_until ON ai_service_accounts (status_until)
    WHERE status_until IS NOT NULL;
CREATE INDEX ai_service_accounts_platform ON ai_service_accounts (platform);
CREATE INDEX ai_service_accounts_oauth_expires_at ON ai_service_accounts (oauth_expires_at)
    WHERE oauth_expires_at IS NOT NULL;

CREATE TRIGGER accounts_changed_ins AFTER INSERT ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER accounts_changed_upd AFTER UPDATE OF name, platform, base_url, credentials, status,
        status_reason, status_until, supported_models, priority, weight, model_mapping,
        claude_console_user_agent, proxy_type, proxy_host, proxy_port, proxy_username,
        proxy_password, auth_type, oauth_access_token, oauth_refresh_token, oauth_expires_at,
        manual_access_token, manual_refresh_token, gemini_project_id, gemini_location,
        workspace
        ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER accounts_changed_del AFTER DELETE ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER accounts_upstream_models_changed AFTER UPDATE OF upstream_models ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER accounts_errors_reset AFTER UPDATE OF errors_reset_at ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;

-- A sign-in link remembers which platform it was made for, so its code is exchanged at that
-- platform's token server.
ALTER TABLE oauth_sessions ADD COLUMN platform TEXT NOT NULL DEFAULT 'claude-oauth';
