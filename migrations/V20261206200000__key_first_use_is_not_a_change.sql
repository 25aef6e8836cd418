-- A key's first use no longer counts as a change of configuration. The gateway records the
-- first use itself and keeps it in memory, so the snapshot reload it set off (every key of the
-- team read again, up to twice a second while keys come into use on a team's first day) told
-- the gateway nothing new. fair_share is named now: a change of it alone must be seen too
-- (it was, until now, only because the limits are written together).
DROP TRIGGER api_keys_changed_upd;
CREATE TRIGGER api_keys_changed_upd AFTER UPDATE OF group_id, name, key_hash, status, expires_at,
        expires_days_after_first_use, rate_requests, rate_window_minutes, concurrency, queue,
        daily_tokens, total_tokens, daily_cost_nanos, weekly_cost_nanos, total_cost_nanos,
        allowed_models, allowed_clients, allowed_platforms, fair_share ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
