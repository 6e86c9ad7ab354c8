-- Uptime checks (internal/uptime): the pages probed from outside once a minute at most.
-- uptime_results holds one row per probe, kept 48 hours; each complete hour is then rolled up into
-- uptime_hours (kept 90 days). The percentages read both without counting a probe twice: hours
-- before a target's newest rolled-up hour come from uptime_hours, the rest from uptime_results.
-- Times are unix microseconds; tls_days is -1 when the target is plain http or did not answer.
CREATE TABLE uptime_results (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    ok         INTEGER NOT NULL,
    status     INTEGER NOT NULL DEFAULT 0,          -- HTTP status; 0 when there was no answer
    latency_us INTEGER NOT NULL DEFAULT 0,
    tls_days   INTEGER NOT NULL DEFAULT -1,
    reason     TEXT NOT NULL DEFAULT ''             -- why it failed, '' when ok
);
CREATE INDEX uptime_results_target_at ON uptime_results (target, at);

CREATE TABLE uptime_hours (
    target         TEXT NOT NULL,
    hour           INTEGER NOT NULL,                -- the hour's start
    ok_count       INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    latency_p50_us INTEGER NOT NULL,
    latency_max_us INTEGER NOT NULL,
    tls_days       INTEGER NOT NULL DEFAULT -1,     -- the fewest days left seen in the hour
    PRIMARY KEY (target, hour)
);

-- One row per configured target: its last probe and the damped alert state the uptime alert rule
-- reads (fires after N failures in a row, resolves after M successes, holds while flapping).
CREATE TABLE uptime_state (
    target        TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    last_at       INTEGER NOT NULL DEFAULT 0,
    ok            INTEGER NOT NULL DEFAULT 0,
    status        INTEGER NOT NULL DEFAULT 0,
    latency_us    INTEGER NOT NULL DEFAULT 0,
    tls_days      INTEGER NOT NULL DEFAULT -1,
    tls_days_warn INTEGER NOT NULL DEFAULT -1,
    reason        TEXT NOT NULL DEFAULT '',
    fail_streak   INTEGER NOT NULL DEFAULT 0,
    ok_streak     INTEGER NOT NULL DEFAULT 0,
    history       TEXT NOT NULL DEFAULT '',         -- the latest outcomes, oldest first: u up, d down
    changed_at    INTEGER NOT NULL DEFAULT 0,       -- when the last outcome differed from the one before
    alerting      INTEGER NOT NULL DEFAULT 0,
    alert_kind    TEXT NOT NULL DEFAULT '',         -- down | flapping
    alert_since   INTEGER NOT NULL DEFAULT 0,
    alert_reason  TEXT NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL
);
