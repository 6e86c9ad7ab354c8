-- Scheduled launch-readiness audits (membersync doctor inside serve), newest last.
CREATE TABLE doctor_reports (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,              -- unix microseconds
    domain   TEXT NOT NULL,
    fails    INTEGER NOT NULL,
    warns    INTEGER NOT NULL,
    failing  TEXT NOT NULL DEFAULT '', -- the failing checks, one "group: check" per line
    report   TEXT NOT NULL             -- the report as JSON
);
CREATE INDEX doctor_reports_at ON doctor_reports (at);
