-- The model name the upstream answered as, when it differs from the one the client asked for
-- (an account's model mapping, or a dated snapshot name). `model` keeps the client's name.
ALTER TABLE api_key_request_log ADD COLUMN upstream_model TEXT;
