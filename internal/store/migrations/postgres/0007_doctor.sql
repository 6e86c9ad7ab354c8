-- Scheduled launch-readiness audits (membersync doctor inside serve), newest last.
CREATE TABLE doctor_reports (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,              -- unix microseconds
    domain   TEXT NOT NULL,
    fails    BIGINT NOT NULL,
    warns    BIGINT NOT NULL,
    failing  TEXT NOT NULL DEFAULT '', -- the failing checks, one "group: check" per line
    report   TEXT NOT NULL             -- the report as JSON
);
CREATE INDEX doctor_reports_at ON doctor_reports (at);
