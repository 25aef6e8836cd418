-- What the relay needs: a counter that tells the running gateway its in-memory snapshot is stale,
-- one-hour cache-write prices with the current Claude list prices, and an "unpriced" mark so a
-- model without a price is never counted as free.

-- Bumped by the triggers below whenever something the request path reads from memory changes.
-- The gateway polls it (after PRAGMA data_version says another connection wrote) and reloads.
-- Usage writes and error bookkeeping do not touch it, so they never cause a reload.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE TRIGGER groups_changed_ins AFTER INSERT ON groups
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER groups_changed_upd AFTER UPDATE ON groups
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER groups_changed_del AFTER DELETE ON groups
    BEGIN UPDATE config_version SET version = version + 1; END;

CREATE TRIGGER api_keys_changed_ins AFTER INSERT ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER api_keys_changed_upd AFTER UPDATE OF group_id, name, key_hash, status, expires_at,
        expires_days_after_first_use, first_used_at, rate_requests, rate_window_minutes,
        concurrency, queue, daily_tokens, total_tokens, daily_cost_nanos, weekly_cost_nanos,
        total_cost_nanos, allowed_models, allowed_clients, allowed_platforms ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER api_keys_changed_del AFTER DELETE ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;

CREATE TRIGGER accounts_changed_ins AFTER INSERT ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
-- Not error_count, last_error_at, totals or last_used_at: those change while serving.
CREATE TRIGGER accounts_changed_upd AFTER UPDATE OF name, platform, base_url, credentials, status,
        status_reason, status_until, supported_models, priority, weight, model_mapping,
        claude_console_user_agent, proxy_type, proxy_host, proxy_port, proxy_username,
        proxy_password, auth_type, oauth_access_token, oauth_refresh_token, oauth_expires_at,
        manual_access_token, manual_refresh_token, gemini_project_id, gemini_location
        ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER accounts_changed_del AFTER DELETE ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;

CREATE TRIGGER bindings_changed_ins AFTER INSERT ON group_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER bindings_changed_upd AFTER UPDATE ON group_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER bindings_changed_del AFTER DELETE ON group_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;

CREATE TRIGGER prices_changed_ins AFTER INSERT ON model_prices
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER prices_changed_upd AFTER UPDATE ON model_prices
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER prices_changed_del AFTER DELETE ON model_prices
    BEGIN UPDATE config_version SET version = version + 1; END;

-- Anthropic bills cache writes with a one-hour TTL at a higher rate than five-minute ones.
ALTER TABLE model_prices ADD COLUMN cache_write_1h_nanos INTEGER NOT NULL DEFAULT 0
    CHECK (cache_write_1h_nanos >= 0);

-- A request whose model has no price: its cost_nanos is 0 because it is unknown, not free.
ALTER TABLE api_key_request_log ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0 CHECK (unpriced IN (0, 1));
ALTER TABLE usage_daily ADD COLUMN unpriced_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN error_requests INTEGER NOT NULL DEFAULT 0;

-- List prices in nano-dollars per token (USD per million tokens × 1000), as published for
-- Claude in November 2026. A dated snapshot ("claude-sonnet-4-5-20250929") or "-latest" alias
-- takes the price of its model. Columns: input, output, 5-minute cache write (1.25 × input),
-- 1-hour cache write (2 × input), cache read (0.1 × input).
INSERT OR IGNORE INTO model_prices
    (model, input_nanos, output_nanos, cache_write_nanos, cache_write_1h_nanos, cache_read_nanos)
VALUES
    ('claude-3-haiku',      250,  1250,   300,   500,   30),
    ('claude-3-5-haiku',    800,  4000,  1000,  1600,   80),
    ('claude-haiku-4-5',   1000,  5000,  1250,  2000,  100),
    ('claude-3-5-sonnet',  3000, 15000,  3750,  6000,  300),
    ('claude-3-7-sonnet',  3000, 15000,  3750,  6000,  300),
    ('claude-sonnet-4',    3000, 15000,  3750,  6000,  300),
    ('claude-sonnet-4-5',  3000, 15000,  3750,  6000,  300),
    ('claude-sonnet-4-6',  3000, 15000,  3750,  6000,  300),
    ('claude-sonnet-5',    3000, 15000,  3750,  6000,  300),
    ('claude-3-opus',     15000, 75000, 18750, 30000, 1500),
    ('claude-opus-4',     15000, 75000, 18750, 30000, 1500),
    ('claude-opus-4-1',   15000, 75000, 18750, 30000, 1500),
    ('claude-opus-4-5',    5000, 25000,  6250, 10000,  500),
    ('claude-opus-4-6',    5000, 25000,  6250, 10000,  500),
    ('claude-opus-4-7',    5000, 25000,  6250, 10000,  500),
    ('claude-opus-4-8',    5000, 25000,  6250, 10000,  500),
    ('claude-fable-5',    10000, 50000, 12500, 20000, 1000),
    ('claude-mythos-5',   10000, 50000, 12500, 20000, 1000);

-- Account totals in `account list` are summed from the rollup.
CREATE INDEX usage_daily_account_day ON usage_daily (account_id, day);
