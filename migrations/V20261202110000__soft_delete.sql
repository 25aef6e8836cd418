-- Accounts, groups and keys can be deleted while their history stays: the row is kept, marked
-- deleted (and renamed "<name> (deleted #<id>)" so the name is free again), and every list,
-- lookup and the gateway's snapshot leave it out; the request log, daily rollups and audit log
-- still point at it by id and show its name.
ALTER TABLE ai_service_accounts ADD COLUMN deleted_at INTEGER;
ALTER TABLE groups ADD COLUMN deleted_at INTEGER;
ALTER TABLE api_keys ADD COLUMN deleted_at INTEGER;
