-- A member's weight in the fair share of their group's subscription windows (NULL: 1).
ALTER TABLE api_keys ADD COLUMN fair_share INTEGER;
