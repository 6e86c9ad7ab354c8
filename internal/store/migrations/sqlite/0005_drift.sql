-- Drift sweep reports: the last one is shown on the admin overview; the Circle calls of this
-- month's sweeps are the sweep's share of Circle's monthly quota.
CREATE TABLE drift_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   INTEGER NOT NULL,            -- unix microseconds
    finished_at  INTEGER NOT NULL DEFAULT 0,
    mode         TEXT NOT NULL,               -- dry_run | repair
    status       TEXT NOT NULL,               -- complete | refused | failed
    people       INTEGER NOT NULL DEFAULT 0,  -- people compared
    drifted      INTEGER NOT NULL DEFAULT 0,  -- people with at least one difference (pending syncs excluded)
    circle_calls INTEGER NOT NULL DEFAULT 0,
    kit_calls    INTEGER NOT NULL DEFAULT 0,
    stripe_calls INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT ''     -- the whole report as JSON
);
CREATE INDEX drift_reports_started ON drift_reports (started_at);

-- Backfill runs from Stripe's Events API: the cursor (last event processed) makes a run resumable.
CREATE TABLE backfill_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    since         INTEGER NOT NULL,           -- window start, unix seconds (Stripe's created)
    types         TEXT NOT NULL DEFAULT '',   -- sorted, comma-separated type filter; '' for all
    status        TEXT NOT NULL,              -- running | complete | failed
    last_event_id TEXT NOT NULL DEFAULT '',   -- the last event fed through the inbox, in order
    processed     INTEGER NOT NULL DEFAULT 0,
    accepted      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    ignored       INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    started_at    INTEGER NOT NULL,           -- unix microseconds
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX backfill_runs_types ON backfill_runs (types, id);

-- Named leases so that one sweep or backfill runs at a time across instances sharing the database.
CREATE TABLE task_locks (
    name     TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    until_us INTEGER NOT NULL
);

-- The endpoint check reads the latest webhook delivery.
CREATE INDEX stripe_events_source_received ON stripe_events (source, received_at);
