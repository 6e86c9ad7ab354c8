-- What membersync last confirmed in Circle and Kit, per person: the sync calls providers only for
-- the difference between this and the desired state.
CREATE TABLE applied (
    person_id  INTEGER NOT NULL,
    provider   TEXT NOT NULL,              -- circle | kit
    kind       TEXT NOT NULL,              -- access_group | tag | sequence
    target_id  INTEGER NOT NULL,           -- the group, tag or sequence id
    email      TEXT NOT NULL,              -- the (normalized) email it was applied to
    remote_id  INTEGER NOT NULL DEFAULT 0, -- the Circle member or Kit subscriber id
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (person_id, provider, kind, target_id, email)
);
CREATE INDEX applied_target ON applied (provider, kind, target_id);

-- Things that need a person: a failed action, a conflict, an unmapped price.
CREATE TABLE review_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id   INTEGER NOT NULL DEFAULT 0,
    kind        TEXT NOT NULL,                -- action_failed | retries_exhausted | sync_failing | credentials | email_conflict | unmapped_price | conflicting_data | …
    action_key  TEXT NOT NULL DEFAULT '',     -- the blocked action, such as circle:add_access_group:12
    reason      TEXT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open', -- open | resolved
    occurrences INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER NOT NULL DEFAULT 0,
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution  TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX review_items_open ON review_items (person_id, kind, action_key) WHERE status = 'open';
CREATE INDEX review_items_status ON review_items (status, created_at);

-- Two syncs of one person never run at once: a lease, taken and released by the worker.
ALTER TABLE people ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
-- The desired state as last computed, for the admin UI and status pages (JSON).
ALTER TABLE people ADD COLUMN desired TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN synced_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN sync_error TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN next_change INTEGER NOT NULL DEFAULT 0;
