-- The founder's names for the provider ids membersync shows (Store.ReplaceCatalogNames): Circle
-- access groups, Kit tags and sequences, Stripe prices (detail: the amount, "€29/month") and their
-- products, as the last successful list of each provider's kind returned them. A list that fails
-- leaves the rows of its kind as they were.
CREATE TABLE catalog_names (
    provider   TEXT NOT NULL,                       -- circle, kit, stripe
    kind       TEXT NOT NULL,                       -- access_group, tag, sequence, price, product
    id         TEXT NOT NULL,                       -- the provider's id as text: "11", "price_…"
    name       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    fetched_at BIGINT NOT NULL,                     -- unix microseconds
    PRIMARY KEY (provider, kind, id)
);

-- When each provider's kind was last listed successfully (a kind may list nothing): the refresh
-- job lists a kind again once this is a day old.
CREATE TABLE catalog_refreshes (
    provider     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    refreshed_at BIGINT NOT NULL,                   -- unix microseconds
    PRIMARY KEY (provider, kind)
);
