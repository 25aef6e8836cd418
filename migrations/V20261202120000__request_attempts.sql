-- Each attempt a request made before the one that answered (or before giving up): the account
-- tried, its status (none when it could not be reached) and why it failed, as a JSON array.
-- NULL for the common request answered at its first try.
ALTER TABLE api_key_request_log ADD COLUMN tried TEXT CHECK (tried IS NULL OR json_valid(tried));
