-- Load is tracked in memory and prices live per model, so these per-channel fields go.

ALTER TABLE ai_service_accounts DROP COLUMN current_load;
ALTER TABLE ai_service_accounts DROP COLUMN daily_limit;
ALTER TABLE ai_service_accounts DROP COLUMN cost_per_token;
