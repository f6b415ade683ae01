-- What a cache hit saved: the cached answer's tokens and their cost, which no provider was paid for.
-- Rows written before this migration (and every row that is not a hit) keep 0.

ALTER TABLE audit_log
    ADD COLUMN saved_tokens   bigint NOT NULL DEFAULT 0,
    ADD COLUMN saved_cost_usd double precision NOT NULL DEFAULT 0;
