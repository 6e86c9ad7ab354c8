-- One row that the readiness check writes (Store.WriteProbe): a database that no longer accepts
-- writes (full disk, read-only replica or transaction mode) is not ready.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,                         -- always 1
    at BIGINT NOT NULL                              -- unix microseconds of the last probe
);
