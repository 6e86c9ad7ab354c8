-- The customer status pages. Checkout Sessions seen by the post-checkout page: the Stripe lookup is
-- made once per session (again only while the payment is not confirmed), and the page asks for a
-- sync at most once per session.
CREATE TABLE status_checkouts (
    session_id        TEXT PRIMARY KEY,             -- cs_…
    person_id         BIGINT NOT NULL DEFAULT 0,    -- 0 for a guest checkout not matched yet
    customer_id       TEXT NOT NULL DEFAULT '',     -- cus_…, '' for a guest checkout
    email             TEXT NOT NULL DEFAULT '',     -- normalized; kept only for a guest checkout
    paid              BOOLEAN NOT NULL DEFAULT FALSE, -- Stripe confirmed the payment
    created_at        BIGINT NOT NULL,              -- unix microseconds
    checked_at        BIGINT NOT NULL,              -- last read from Stripe
    sync_requested_at BIGINT NOT NULL DEFAULT 0     -- when the page asked for a sync (0: never)
);

-- Fixed-window counters: failed lookups per client address (no guessing of session ids or
-- tokens), resend and billing-portal requests per person.
CREATE TABLE status_limits (
    bucket       TEXT NOT NULL,                     -- such as lookup:<address hash> or resend:<person>
    window_start BIGINT NOT NULL,                   -- unix microseconds, the window's start
    hits         BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX status_limits_window ON status_limits (window_start);
