-- Alert state, one row per alert (a rule, or a rule and a subject such as credentials:circle):
-- fires once, repeats while it holds, resolves; kept here so that it survives restarts and is shared
-- by every instance. version makes each transition a compare-and-set.
CREATE TABLE alert_state (
    id            TEXT PRIMARY KEY,                -- rule, or rule:subject
    rule          TEXT NOT NULL,
    firing        INTEGER NOT NULL DEFAULT 0,
    pending_since INTEGER NOT NULL DEFAULT 0,      -- condition seen holding, waiting out the rule's hold time
    since         INTEGER NOT NULL DEFAULT 0,      -- when the condition began (unix microseconds)
    last_sent     INTEGER NOT NULL DEFAULT 0,      -- last firing message delivered by a notifier; 0 while owed
    sent_count    INTEGER NOT NULL DEFAULT 0,
    resolved_at   INTEGER NOT NULL DEFAULT 0,
    resolve_owed  INTEGER NOT NULL DEFAULT 0,      -- the resolved message is still to be delivered
    title         TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    link          TEXT NOT NULL DEFAULT '',
    affected      INTEGER NOT NULL DEFAULT 0,      -- people affected; -1 when unknown
    version       INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX alert_state_firing ON alert_state (firing, rule);

-- Every alert message sent (or attempted), with each notifier's result: the alerts' history.
CREATE TABLE alert_notifications (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    rule     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    status   TEXT NOT NULL,                        -- firing | repeat | resolved
    title    TEXT NOT NULL,
    results  TEXT NOT NULL DEFAULT '',             -- "slack=ok webhook=failed: …"
    delivered INTEGER NOT NULL DEFAULT 0           -- at least one notifier delivered it
);
CREATE INDEX alert_notifications_at ON alert_notifications (at);

-- Refused webhook deliveries, counted per minute and refusal code: nothing else is stored for a
-- delivery membersync did not accept, and the webhook-failures alert reads these.
CREATE TABLE webhook_refusals (
    minute INTEGER NOT NULL,                       -- start of the minute, unix microseconds
    code   TEXT NOT NULL,                          -- bad_signature | too_old | livemode_mismatch | unavailable | …
    count  INTEGER NOT NULL,
    PRIMARY KEY (minute, code)
);
