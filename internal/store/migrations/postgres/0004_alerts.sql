-- Alert state, one row per alert (a rule, or a rule and a subject such as credentials:circle):
-- fires once, repeats while it holds, resolves; kept here so that it survives restarts and is shared
-- by every instance. version makes each transition a compare-and-set.
CREATE TABLE alert_state (
    id            TEXT PRIMARY KEY,                -- rule, or rule:subject
    rule          TEXT NOT NULL,
    firing        BOOLEAN NOT NULL DEFAULT FALSE,
    pending_since BIGINT NOT NULL DEFAULT 0,       -- condition seen holding, waiting out the rule's hold time
    since         BIGINT NOT NULL DEFAULT 0,       -- when the condition began (unix microseconds)
    last_sent     BIGINT NOT NULL DEFAULT 0,       -- last firing message delivered by a notifier; 0 while owed
    sent_count    BIGINT NOT NULL DEFAULT 0,
    resolved_at   BIGINT NOT NULL DEFAULT 0,
    resolve_owed  BOOLEAN NOT NULL DEFAULT FALSE,  -- the resolved message is still to be delivered
    title         TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    link          TEXT NOT NULL DEFAULT '',
    affected      BIGINT NOT NULL DEFAULT 0,       -- people affected; -1 when unknown
    version       BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX alert_state_firing ON alert_state (firing, rule);

-- Every alert message sent (or attempted), with each notifier's result: the alerts' history.
CREATE TABLE alert_notifications (
    id       BIGSERIAL PRIMARY KEY,
    alert_id TEXT NOT NULL,
    rule     TEXT NOT NULL,
    at       BIGINT NOT NULL,
    status   TEXT NOT NULL,                        -- firing | repeat | resolved
    title    TEXT NOT NULL,
    results  TEXT NOT NULL DEFAULT '',             -- "slack=ok webhook=failed: …"
    delivered BOOLEAN NOT NULL DEFAULT FALSE       -- at least one notifier delivered it
);
CREATE INDEX alert_notifications_at ON alert_notifications (at);

-- Refused webhook deliveries, counted per minute and refusal code: nothing else is stored for a
-- delivery membersync did not accept, and the webhook-failures alert reads these.
CREATE TABLE webhook_refusals (
    minute BIGINT NOT NULL,                        -- start of the minute, unix microseconds
    code   TEXT NOT NULL,                          -- bad_signature | too_old | livemode_mismatch | unavailable | …
    count  BIGINT NOT NULL,
    PRIMARY KEY (minute, code)
);
