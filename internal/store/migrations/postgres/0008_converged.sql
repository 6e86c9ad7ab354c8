-- When a sync confirmed every action for the event (time to converge = converged_at - received_at).
ALTER TABLE stripe_events ADD COLUMN converged_at BIGINT NOT NULL DEFAULT 0;
