-- One request budget per provider credential (Store.Budget), shared by every instance on this
-- database: a GCRA bucket (tat, the theoretical arrival time) and the end of the pause a provider's
-- 429 set, both unix microseconds. month and month_calls count the requests made in the current UTC
-- month (Circle's monthly quota counts every answer, 4xx included).
CREATE TABLE provider_budgets (
    key          TEXT PRIMARY KEY,                  -- provider:fingerprint of the credential, never the credential
    tat          BIGINT NOT NULL,
    paused_until BIGINT NOT NULL,
    month        TEXT NOT NULL DEFAULT '',          -- "2026-12"
    month_calls  BIGINT NOT NULL DEFAULT 0
);
