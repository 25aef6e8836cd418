-- The models an account's upstream says it serves (its own model list endpoint), fetched when
-- the account is created and on `account test`. Used for GET /v1/models when the operator
-- gave the account no model list of its own. A JSON array of model ids; NULL until fetched.
ALTER TABLE ai_service_accounts ADD COLUMN upstream_models TEXT;
ALTER TABLE ai_service_accounts ADD COLUMN upstream_models_at INTEGER;
-- The gateway keeps the list in memory: a new list is a change it reloads.
CREATE TRIGGER accounts_upstream_models_changed AFTER UPDATE OF upstream_models ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
