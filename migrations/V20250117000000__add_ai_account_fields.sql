-- The remaining account fields of the AiServiceAccount model that a single-machine gateway uses.
-- Claude Console's own URL, key and model list map onto base_url, credentials and supported_models;
-- every token, key and password column holds AEAD ciphertext, never plaintext.

ALTER TABLE ai_service_accounts ADD COLUMN account_type TEXT NOT NULL DEFAULT 'shared'
    CHECK (account_type IN ('shared', 'dedicated'));
ALTER TABLE ai_service_accounts ADD COLUMN auth_type TEXT NOT NULL DEFAULT 'api_key'
    CHECK (auth_type IN ('api_key', 'oauth', 'manual'));

-- Claude Code subscription (OAuth) tokens, refreshed by the gateway.
ALTER TABLE ai_service_accounts ADD COLUMN oauth_access_token BLOB;
ALTER TABLE ai_service_accounts ADD COLUMN oauth_refresh_token BLOB;
ALTER TABLE ai_service_accounts ADD COLUMN oauth_expires_at INTEGER;
ALTER TABLE ai_service_accounts ADD COLUMN oauth_scopes TEXT;
-- Tokens pasted by hand instead of the PKCE flow.
ALTER TABLE ai_service_accounts ADD COLUMN manual_access_token BLOB;
ALTER TABLE ai_service_accounts ADD COLUMN manual_refresh_token BLOB;

ALTER TABLE ai_service_accounts ADD COLUMN gemini_project_id TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN gemini_location TEXT;

ALTER TABLE ai_service_accounts ADD COLUMN claude_console_user_agent TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN claude_console_rate_limit_duration INTEGER
    CHECK (claude_console_rate_limit_duration IS NULL OR claude_console_rate_limit_duration > 0);
-- JSON object renaming a requested model for this upstream, e.g. {"claude-sonnet-4": "glm-4.6"}.
ALTER TABLE ai_service_accounts ADD COLUMN model_mapping TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(model_mapping));

-- Outbound proxy for this account's requests and token calls.
ALTER TABLE ai_service_accounts ADD COLUMN proxy_type TEXT
    CHECK (proxy_type IS NULL OR proxy_type IN ('http', 'https', 'socks5', 'socks5h'));
ALTER TABLE ai_service_accounts ADD COLUMN proxy_host TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN proxy_port INTEGER
    CHECK (proxy_port IS NULL OR proxy_port BETWEEN 1 AND 65535);
ALTER TABLE ai_service_accounts ADD COLUMN proxy_username TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN proxy_password BLOB;

ALTER TABLE ai_service_accounts ADD COLUMN validation_status TEXT NOT NULL DEFAULT 'unvalidated'
    CHECK (validation_status IN ('unvalidated', 'valid', 'invalid'));
ALTER TABLE ai_service_accounts ADD COLUMN validation_message TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN last_validated_at INTEGER;

CREATE INDEX ai_service_accounts_platform ON ai_service_accounts (platform);
CREATE INDEX ai_service_accounts_oauth_expires_at ON ai_service_accounts (oauth_expires_at)
    WHERE oauth_expires_at IS NOT NULL;
