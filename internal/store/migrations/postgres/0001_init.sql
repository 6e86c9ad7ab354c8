-- Stripe events as received: unique by event id, kept whole (the raw body) for replay and audit.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,              -- evt_…
    type        TEXT NOT NULL,
    customer_id TEXT NOT NULL DEFAULT '',      -- cus_… named in data.object, '' when the object names none
    person_id   BIGINT NOT NULL DEFAULT 0,    -- 0 until resolved
    created     BIGINT NOT NULL,              -- Stripe's created, unix seconds
    livemode    BOOLEAN NOT NULL DEFAULT FALSE,
    api_version TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL,              -- unix microseconds
    source      TEXT NOT NULL DEFAULT 'webhook', -- webhook | backfill | replay
    state       TEXT NOT NULL,                 -- queued | unresolved | ignored | processed | failed
    payload     TEXT NOT NULL
);
CREATE INDEX stripe_events_customer ON stripe_events (customer_id, created);
CREATE INDEX stripe_events_received ON stripe_events (received_at);
CREATE INDEX stripe_events_person ON stripe_events (person_id, received_at);

-- One person across Stripe, Circle and Kit.
CREATE TABLE people (
    id                BIGSERIAL PRIMARY KEY,
    email             TEXT NOT NULL DEFAULT '',  -- normalized; '' until a sync reads it from Stripe
    name              TEXT NOT NULL DEFAULT '',
    circle_member_id  BIGINT NOT NULL DEFAULT 0,
    kit_subscriber_id BIGINT NOT NULL DEFAULT 0,
    generation        BIGINT NOT NULL DEFAULT 0, -- bumped by every trigger
    synced_generation BIGINT NOT NULL DEFAULT 0, -- the generation the last completed sync started from
    queued            BOOLEAN NOT NULL DEFAULT FALSE, -- a sync job is waiting to start
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX people_email ON people (email) WHERE email <> '';

-- Stripe customers, each belonging to one person.
CREATE TABLE customers (
    id         TEXT PRIMARY KEY,                 -- cus_…
    person_id  BIGINT NOT NULL REFERENCES people (id),
    email      TEXT NOT NULL DEFAULT '',         -- normalized, as last read
    created_at BIGINT NOT NULL
);
CREATE INDEX customers_person ON customers (person_id);

-- The journey: every event, sync, provider call and admin action, per person.
CREATE TABLE journal (
    id          BIGSERIAL PRIMARY KEY,
    person_id   BIGINT NOT NULL DEFAULT 0,
    at          BIGINT NOT NULL,                -- unix microseconds
    kind        TEXT NOT NULL,                   -- event | sync | call | admin | review | note
    event_id    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    status      BIGINT NOT NULL DEFAULT 0,
    attempt     BIGINT NOT NULL DEFAULT 0,
    duration_us BIGINT NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX journal_person ON journal (person_id, at);
CREATE INDEX journal_at ON journal (at);
