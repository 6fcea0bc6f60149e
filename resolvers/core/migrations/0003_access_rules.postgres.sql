-- Access rules: zone kinds and owners, grants by position with schedules and reviews,
-- access requests, account locks, and the append-only audit log.
ALTER TABLE "zone" ADD COLUMN "kind" VARCHAR(16) NOT NULL DEFAULT 'OFFICE';
ALTER TABLE "zone" ADD COLUMN "department_id" INT;
ALTER TABLE "zone" ADD COLUMN "responsible_id" INT;
ALTER TABLE "person" ADD COLUMN "locked_at" TIMESTAMPTZ;
ALTER TABLE "access_grant" ADD COLUMN "position" VARCHAR(200);
ALTER TABLE "access_grant" ADD COLUMN "schedule" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "access_grant" ADD COLUMN "review_due_at" TIMESTAMPTZ;
ALTER TABLE "access_grant" ADD COLUMN "reviewed_at" TIMESTAMPTZ;
ALTER TABLE "access_grant" ADD COLUMN "reviewed_by_id" INT;
ALTER TABLE "access_grant" ADD COLUMN "request_id" INT;
CREATE INDEX "idx_access_gran_positio_0551f3" ON "access_grant" ("position", "zone_id");
CREATE TABLE "audit_entry" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    "actor_id" INT,
    "actor_name" VARCHAR(200) NOT NULL,
    "address" VARCHAR(64) NOT NULL,
    "action" VARCHAR(100) NOT NULL,
    "target_type" VARCHAR(50) NOT NULL,
    "target_id" VARCHAR(50) NOT NULL,
    "outcome" VARCHAR(100) NOT NULL,
    "detail" JSONB NOT NULL
);
CREATE INDEX "idx_audit_entry_actor_i_9a4cc1" ON "audit_entry" ("actor_id", "id");
CREATE INDEX "idx_audit_entry_action_c7da58" ON "audit_entry" ("action", "id");
CREATE INDEX "idx_audit_entry_target__6a1dae" ON "audit_entry" ("target_type", "target_id");
COMMENT ON TABLE "audit_entry" IS 'Append-only: who did what, when, from where; before and after for changes.';
CREATE TABLE "access_request" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "reason" VARCHAR(500) NOT NULL,
    "days" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "decided_by_id" INT,
    "decided_at" TIMESTAMPTZ,
    "decision_note" VARCHAR(500) NOT NULL,
    "grant_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "access_request"."status" IS 'PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED';
COMMENT ON TABLE "access_request" IS 'An employee asks for time-limited access to a zone (a maintenance area); its responsible head decides.';
CREATE FUNCTION gatehouse_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER "audit_entry_append_only" BEFORE UPDATE OR DELETE ON "audit_entry"
FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_append_only();
