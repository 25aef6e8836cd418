-- A subscription may draw on paid extra usage only when the operator allows it; an account
-- may be capped to so many requests in flight at once (NULL: no cap).
ALTER TABLE ai_service_accounts ADD COLUMN allow_overage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ai_service_accounts ADD COLUMN max_concurrency INTEGER;
