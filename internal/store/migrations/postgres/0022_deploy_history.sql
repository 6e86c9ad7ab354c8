-- Deploy and config history: one row per serve start (Store.RecordStart), with the binary's version,
-- the config file's digest, the effective config flattened to key paths (never a secret), each
-- secret's keyed fingerprint (never the secret) and the changes against the start before, so that
-- "what changed?" has an answer when webhooks or syncs begin to fail. Times are unix microseconds;
-- modified is 1 when the binary was built from a modified work tree.
CREATE TABLE deploy_starts (
    id            BIGSERIAL PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    instance      TEXT NOT NULL,
    version       TEXT NOT NULL,
    revision      TEXT NOT NULL DEFAULT '',
    modified      INTEGER NOT NULL DEFAULT 0,
    vcs_time      BIGINT NOT NULL DEFAULT 0,
    config_digest TEXT NOT NULL DEFAULT '',
    config_json   TEXT NOT NULL,
    secrets_json  TEXT NOT NULL,
    changes_json  TEXT NOT NULL,
    changes       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deploy_starts_at ON deploy_starts (started_at, id);
