-- Support sources (package support/sources): how far the IMAP poller has read each mailbox, so that
-- nothing is counted twice across restarts. A row per mailbox (its name as configured): the
-- UIDVALIDITY the UIDs belong to, the highest UID handled, and the newest INTERNALDATE ingested
-- (microseconds; 0 before the first). floor_at and floor_below_uid skip the messages that were in
-- the mailbox before a start or a UIDVALIDITY change: a UID below floor_below_uid whose INTERNALDATE
-- is not after floor_at is passed over (0, 0: no floor).
CREATE TABLE support_imap_cursors (
    mailbox         TEXT PRIMARY KEY,
    uidvalidity     BIGINT NOT NULL,
    last_uid        BIGINT NOT NULL DEFAULT 0,
    last_at         BIGINT NOT NULL DEFAULT 0,
    floor_at        BIGINT NOT NULL DEFAULT 0,
    floor_below_uid BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);
