-- One row per request a member key made: who, which upstream, which model, the outcome and exact usage.
-- Costs are integer nano-dollars (1e-9 USD) so sums are exact.

CREATE TABLE api_key_request_log (
    id                          INTEGER PRIMARY KEY,
    -- Unique per request so a replayed journal entry can never be counted twice.
    request_id                  TEXT    NOT NULL UNIQUE,
    api_key_id                  INTEGER REFERENCES api_keys (id) ON DELETE SET NULL,
    group_id                    INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    account_id                  INTEGER REFERENCES ai_service_accounts (id) ON DELETE SET NULL,
    protocol                    TEXT    NOT NULL CHECK (protocol IN ('anthropic', 'openai', 'gemini')),
    endpoint                    TEXT    NOT NULL,
    model                       TEXT,
    stream                      INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1)),
    status_code                 INTEGER NOT NULL,
    outcome                     TEXT    NOT NULL
                                CHECK (outcome IN ('ok', 'upstream_error', 'client_error', 'refused', 'aborted')),
    error_message               TEXT,
    input_tokens                INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens               INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_creation_input_tokens >= 0),
    cache_read_input_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_input_tokens >= 0),
    cost_nanos                  INTEGER NOT NULL DEFAULT 0 CHECK (cost_nanos >= 0),
    attempts                    INTEGER NOT NULL DEFAULT 1,
    client                      TEXT,
    user_agent                  TEXT,
    started_at                  INTEGER NOT NULL,
    duration_ms                 INTEGER,
    first_byte_ms               INTEGER
);
CREATE INDEX api_key_request_log_started_at ON api_key_request_log (started_at);
CREATE INDEX api_key_request_log_key_started ON api_key_request_log (api_key_id, started_at);
CREATE INDEX api_key_request_log_account_started ON api_key_request_log (account_id, started_at);
CREATE INDEX api_key_request_log_group_started ON api_key_request_log (group_id, started_at);
