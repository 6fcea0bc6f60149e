-- Scheduled summaries (POLICY 6.2 "regular summaries for leadership"): one row per period and
-- kind, the UNIQUE pair making the upkeep of several server processes insert it once.
CREATE TABLE "scheduled_summary" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(8) NOT NULL,
    "period_start" DATE NOT NULL,
    "period_end" DATE NOT NULL,
    "figures" JSONB NOT NULL,
    "produced_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_scheduled_s_kind_4ae5ba" UNIQUE ("kind", "period_start")
);
COMMENT ON TABLE "scheduled_summary" IS 'A daily or weekly summary for leadership (POLICY 6.2), made once per period by upkeep.';
