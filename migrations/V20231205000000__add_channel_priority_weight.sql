-- Routing order: lower priority number first, then weighted random by weight inside a tier.
-- A group binding may override either for that group alone (NULL keeps the account's value).

ALTER TABLE ai_service_accounts ADD COLUMN priority INTEGER NOT NULL DEFAULT 50 CHECK (priority >= 0);
ALTER TABLE ai_service_accounts ADD COLUMN weight INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0);
ALTER TABLE group_accounts ADD COLUMN priority INTEGER CHECK (priority IS NULL OR priority >= 0);
ALTER TABLE group_accounts ADD COLUMN weight INTEGER CHECK (weight IS NULL OR weight > 0);

CREATE INDEX ai_service_accounts_status_priority ON ai_service_accounts (status, priority);
