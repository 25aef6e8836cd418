-- What the gateway needs beyond the channel history: key limits, group budgets, model prices,
-- daily usage rollups, admin sessions and an audit log.

-- Member key limits; NULL means "no limit". Costs are integer nano-dollars.
ALTER TABLE api_keys ADD COLUMN expires_days_after_first_use INTEGER
    CHECK (expires_days_after_first_use IS NULL OR expires_days_after_first_use > 0);
ALTER TABLE api_keys ADD COLUMN first_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN rate_requests INTEGER CHECK (rate_requests IS NULL OR rate_requests > 0);
ALTER TABLE api_keys ADD COLUMN rate_window_minutes INTEGER
    CHECK (rate_window_minutes IS NULL OR rate_window_minutes > 0);
ALTER TABLE api_keys ADD COLUMN concurrency INTEGER CHECK (concurrency IS NULL OR concurrency > 0);
ALTER TABLE api_keys ADD COLUMN queue INTEGER CHECK (queue IS NULL OR queue >= 0);
ALTER TABLE api_keys ADD COLUMN daily_tokens INTEGER CHECK (daily_tokens IS NULL OR daily_tokens > 0);
ALTER TABLE api_keys ADD COLUMN total_tokens INTEGER CHECK (total_tokens IS NULL OR total_tokens > 0);
ALTER TABLE api_keys ADD COLUMN daily_cost_nanos INTEGER CHECK (daily_cost_nanos IS NULL OR daily_cost_nanos > 0);
ALTER TABLE api_keys ADD COLUMN weekly_cost_nanos INTEGER CHECK (weekly_cost_nanos IS NULL OR weekly_cost_nanos > 0);
ALTER TABLE api_keys ADD COLUMN total_cost_nanos INTEGER CHECK (total_cost_nanos IS NULL OR total_cost_nanos > 0);
-- JSON arrays; empty means "any".
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_models));
ALTER TABLE api_keys ADD COLUMN allowed_clients TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_clients));
ALTER TABLE api_keys ADD COLUMN allowed_platforms TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_platforms));
CREATE INDEX api_keys_group_id ON api_keys (group_id);

-- Group budgets, with the share at which a warning is recorded.
ALTER TABLE groups ADD COLUMN daily_token_budget INTEGER CHECK (daily_token_budget IS NULL OR daily_token_budget > 0);
ALTER TABLE groups ADD COLUMN monthly_token_budget INTEGER
    CHECK (monthly_token_budget IS NULL OR monthly_token_budget > 0);
ALTER TABLE groups ADD COLUMN daily_cost_budget_nanos INTEGER
    CHECK (daily_cost_budget_nanos IS NULL OR daily_cost_budget_nanos > 0);
ALTER TABLE groups ADD COLUMN monthly_cost_budget_nanos INTEGER
    CHECK (monthly_cost_budget_nanos IS NULL OR monthly_cost_budget_nanos > 0);
ALTER TABLE groups ADD COLUMN budget_warning_percent INTEGER NOT NULL DEFAULT 80
    CHECK (budget_warning_percent BETWEEN 1 AND 100);

-- Prices in nano-dollars per token (USD 3 per million tokens = 3000).
CREATE TABLE model_prices (
    model                   TEXT    PRIMARY KEY,
    input_nanos             INTEGER NOT NULL CHECK (input_nanos >= 0),
    output_nanos            INTEGER NOT NULL CHECK (output_nanos >= 0),
    cache_write_nanos       INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_nanos >= 0),
    cache_read_nanos        INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_nanos >= 0),
    updated_at              INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) WITHOUT ROWID;

-- Per day (in the configured time zone), key, account and model; kept when old request-log rows are pruned.
CREATE TABLE usage_daily (
    day                         TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    api_key_id                  INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    account_id                  INTEGER NOT NULL DEFAULT 0,
    model                       TEXT    NOT NULL DEFAULT '',
    requests                    INTEGER NOT NULL DEFAULT 0,
    input_tokens                INTEGER NOT NULL DEFAULT 0,
    output_tokens               INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_nanos                  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, api_key_id, account_id, model)
) WITHOUT ROWID;
CREATE INDEX usage_daily_key_day ON usage_daily (api_key_id, day);

-- Admin sessions; the cookie holds a random token, the row holds only its SHA-256.
CREATE TABLE admin_sessions (
    token_hash   TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT
) WITHOUT ROWID;
CREATE INDEX admin_sessions_user_id ON admin_sessions (user_id);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

-- Who changed what and when; actor is 'cli', 'admin:<username>' or 'system'.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_type TEXT,
    target_id   INTEGER,
    detail      TEXT    CHECK (detail IS NULL OR json_valid(detail))
);
CREATE INDEX audit_log_at ON audit_log (at);
