-- Whether the request was translated between protocols (a Claude Code request answered by an
-- OpenAI-compatible account, say): `endpoint` is the client's, the account's platform says
-- what answered.
ALTER TABLE api_key_request_log ADD COLUMN translated INTEGER NOT NULL DEFAULT 0;
