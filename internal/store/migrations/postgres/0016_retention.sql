-- Retention (Store.Prune, internal/store/retention.go): what expires is deleted or blanked in small
-- batches, each its own short transaction. An event's row stays forever (its id is the dedup key: a
-- redelivery years later still answers "duplicate"); only its payload is emptied, and
-- payload_pruned_at says when (0: the payload is whole).
ALTER TABLE stripe_events ADD COLUMN payload_pruned_at BIGINT NOT NULL DEFAULT 0;
-- The events whose payload is still stored, oldest first: a batch never walks the pruned ones.
CREATE INDEX stripe_events_payload_kept ON stripe_events (received_at) WHERE payload_pruned_at = 0;
-- Provider-call rows by age (deleted), and the other rows whose detail is still stored (blanked).
CREATE INDEX journal_kind_at ON journal (kind, at);
CREATE INDEX journal_detail_kept ON journal (at) WHERE detail <> '';
-- Resolved review items by the time they were resolved (deleted).
CREATE INDEX review_items_resolved ON review_items (status, resolved_at);
-- One row per kind of data retention prunes: the horizon of the last pass (rows older were pruned)
-- and the rows pruned in all, for the journey ("provider calls pruned after 180 days") and the logs.
CREATE TABLE retention_state (
    kind        TEXT PRIMARY KEY,            -- event_payloads | journal_calls | journal_detail | …
    horizon     BIGINT NOT NULL DEFAULT 0,  -- unix microseconds: data older than this was pruned
    keep_us     BIGINT NOT NULL DEFAULT 0,  -- the retention period of that pass, microseconds
    pruned      BIGINT NOT NULL DEFAULT 0,  -- rows deleted or blanked in all
    last_run_at BIGINT NOT NULL DEFAULT 0
);
