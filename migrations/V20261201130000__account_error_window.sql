-- When an account's error window last started afresh (a recovery, an operator's recover or
-- enable, a success): errors the running gateway holds in memory from before it no longer
-- count, so a CLI `account recover` reaches the serving process's window too.
ALTER TABLE ai_service_accounts ADD COLUMN errors_reset_at INTEGER;
-- The gateway keeps it in memory: a reset is a change it reloads.
CREATE TRIGGER accounts_errors_reset AFTER UPDATE OF errors_reset_at ON ai_service_accounts
    BEGIN UPDATE config_version SET version = version + 1; END;
