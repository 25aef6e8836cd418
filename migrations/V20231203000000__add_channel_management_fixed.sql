-- Fixes to the channel tables: a group may bind an account only once, and account names are unique.
-- Existing duplicates are merged (bindings) or renamed (accounts) first so the step cannot fail.

DELETE FROM group_accounts
WHERE rowid NOT IN (SELECT min(rowid) FROM group_accounts GROUP BY group_id, account_id);
DROP INDEX group_accounts_group_id;
CREATE UNIQUE INDEX group_accounts_group_account ON group_accounts (group_id, account_id);
CREATE INDEX group_accounts_account_id ON group_accounts (account_id);

UPDATE ai_service_accounts
SET name = name || ' #' || id
WHERE id NOT IN (SELECT min(id) FROM ai_service_accounts GROUP BY lower(name));
CREATE UNIQUE INDEX ai_service_accounts_name ON ai_service_accounts (name COLLATE NOCASE);
