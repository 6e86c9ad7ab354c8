-- Erasure (GDPR Art. 17): Store.BeginErasure marks a person erasing and writes the tombstone; the
-- person's next sync converges them to no access (unless local only); Store.FinishErasure then
-- scrubs every copy of their email and name in one transaction and marks them erased. A crash
-- between the two leaves the person erasing, and the next sync (or forget run again) finishes.
ALTER TABLE people ADD COLUMN erasure TEXT NOT NULL DEFAULT '';  -- '' | erasing | erased

-- The tombstone: what is kept of an erased person. Never the email: its keyed hash (HMAC-SHA256,
-- key derived from MEMBERSYNC_SIGNING_KEY) answers "was this address erased?" and nothing more.
CREATE TABLE erasures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id    INTEGER NOT NULL,
    email_hash   TEXT NOT NULL DEFAULT '',   -- hex HMAC of the normalized email; '' when none was known
    customer_ids TEXT NOT NULL DEFAULT '',   -- the person's Stripe customers, comma-separated cus_…
    reason       TEXT NOT NULL,              -- why, with the email cut out
    requested_by TEXT NOT NULL,              -- operator, "cli (NAME)" or "stripe"
    local_only   INTEGER NOT NULL DEFAULT 0, -- Circle and Kit left as they are
    state        TEXT NOT NULL,              -- erasing | erased
    requested_at INTEGER NOT NULL,           -- unix microseconds
    erased_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX erasures_person ON erasures (person_id, id);
CREATE INDEX erasures_hash ON erasures (email_hash);

-- The audit log stays append-only, with one exception an erasure records first: a row of
-- audit_redactions allows that audit entry's free text (target, before, after, note) to be
-- rewritten with the erased email cut out; who, what action and when never change.
CREATE TABLE audit_redactions (
    audit_id   INTEGER NOT NULL,
    erasure_id INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (audit_id, erasure_id)
);
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NEW.id <> OLD.id OR NEW.at <> OLD.at OR NEW.actor <> OLD.actor OR NEW.action <> OLD.action OR NEW.person_id <> OLD.person_id
    OR NOT EXISTS (SELECT 1 FROM audit_redactions r WHERE r.audit_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
