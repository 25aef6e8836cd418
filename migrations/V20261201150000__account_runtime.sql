-- What the gateway learns about an account while serving, kept apart from its configuration
-- (writing it never counts as a configuration change): a subscription's usage windows as last
-- reported, and a token refresh that keeps failing.
CREATE TABLE account_runtime (
    account_id INTEGER PRIMARY KEY REFERENCES ai_service_accounts(id) ON DELETE CASCADE,
    windows TEXT,
    windows_at INTEGER,
    refresh_failing_since INTEGER,
    refresh_error TEXT
);
