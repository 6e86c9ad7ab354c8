-- Support messages triaged by internal/support (Store.RecordSupportMessage): one row per message a
-- source (IMAP, Help Scout, Zendesk, the generic webhook) delivered, unique by (source, external_id)
-- so that reading a mailbox again or a redelivered webhook counts nothing twice. Privacy: the sender
-- is kept as person_id and a keyed hash of the normalized email; sender_email, subject and body are
-- '' unless support.keep_bodies is set. rules is a JSON array of the keyword rules that matched,
-- diagnosis the JSON of support.Diagnosis. note_status tracks the private note posted back on the
-- help desk ticket: none (nothing to post), pending, posted or failed (note_error says why).
-- person_id is 0 when no person matched; it names no foreign key so that erasing or merging a person
-- never fails on a message (Store.MergePerson and the erasure move or delete the rows).
CREATE TABLE support_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    ticket_ref    TEXT NOT NULL DEFAULT '',
    received_at   INTEGER NOT NULL,             -- unix microseconds, as the source dated it
    ingested_at   INTEGER NOT NULL,             -- unix microseconds
    person_id     INTEGER NOT NULL DEFAULT 0,
    sender_hash   TEXT NOT NULL DEFAULT '',
    sender_email  TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL,                -- access | welcome_email | billing | refund | other
    rules         TEXT NOT NULL DEFAULT '[]',
    diagnosis     TEXT NOT NULL DEFAULT '{}',
    note_status   TEXT NOT NULL DEFAULT 'none', -- none | pending | posted | failed
    note_error    TEXT NOT NULL DEFAULT '',
    note_attempts INTEGER NOT NULL DEFAULT 0,
    noted_at      INTEGER NOT NULL DEFAULT 0,
    subject       TEXT NOT NULL DEFAULT '',
    body          TEXT NOT NULL DEFAULT '',
    UNIQUE (source, external_id)
);
CREATE INDEX support_messages_received ON support_messages (received_at, category);
CREATE INDEX support_messages_person ON support_messages (person_id, received_at);
CREATE INDEX support_messages_note ON support_messages (note_status, id);
