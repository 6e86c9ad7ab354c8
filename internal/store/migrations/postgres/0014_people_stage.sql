-- The people list's index of each person's last computed desired state (Store.IndexPerson,
-- Store.RefreshPeopleIndex), so that the list filters by plan, stage, "paid but no access" and
-- "access but not paid" in SQL. indexed_at is the synced_at the rows were built from (-1: never
-- indexed): a person whose synced_at moved since (a newer sync) is indexed again before a read.
ALTER TABLE people ADD COLUMN indexed_at BIGINT NOT NULL DEFAULT -1;
CREATE INDEX people_unindexed ON people (id) WHERE indexed_at <> synced_at;
-- The list is ordered by the last change, newest first.
CREATE INDEX people_updated ON people (updated_at, id);

-- One row per plan a person has bought (a stage other than none), as the last sync computed it.
-- The rows go with their person (a merge deletes the person merged away).
CREATE TABLE person_plans (
    person_id  BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    plan_id    TEXT NOT NULL,
    stage      TEXT NOT NULL,           -- entitlement.Stage: active, trialing, past_due, refunded, …
    entitled   BOOLEAN NOT NULL DEFAULT FALSE, -- the plan grants access now
    started_at BIGINT NOT NULL DEFAULT 0,  -- when the deciding subscription or purchase began (0: unknown)
    lapsed_at  BIGINT NOT NULL DEFAULT 0,  -- when the plan stopped granting access (0: it grants, or unknown)
    PRIMARY KEY (person_id, plan_id)
);
-- Covers the overview's count by plan and stage, and the list's plan and stage filters.
CREATE INDEX person_plans_plan_stage ON person_plans (plan_id, stage, entitled, started_at, lapsed_at);
CREATE INDEX person_plans_stage ON person_plans (stage, entitled);

-- The Circle access groups the last sync says a person is entitled to.
CREATE TABLE person_access (
    person_id BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    group_id  BIGINT NOT NULL,
    PRIMARY KEY (person_id, group_id)
);
