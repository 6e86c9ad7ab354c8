-- Facts about this instance that must hold from one start to the next, by key. stripe_mode is the
-- Stripe mode (live or test) of the key the database was first served with: test and live data never
-- share a database (Store.RecordStripeMode).
CREATE TABLE instance_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL                     -- unix microseconds
);
