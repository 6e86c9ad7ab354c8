-- Comps: plans an operator granted a person without payment (Store.AddComp, Store.RevokeComp), an
-- entitlement input beside Stripe. A row is never deleted while its person exists: a revocation
-- records who revoked it, when and why. until_at and revoked_at are 0 when unset. The rows go with
-- their person (a merge moves them to the person merged into; an erasure deletes them).
CREATE TABLE comps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id     INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    plan_id       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    granted_by    TEXT NOT NULL,
    granted_at    INTEGER NOT NULL,
    until_at      INTEGER NOT NULL DEFAULT 0,
    revoked_at    INTEGER NOT NULL DEFAULT 0,
    revoked_by    TEXT NOT NULL DEFAULT '',
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX comps_person ON comps (person_id, id);
