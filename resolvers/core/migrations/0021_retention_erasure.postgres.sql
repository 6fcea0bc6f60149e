-- Retention and erasure (issue 17; README "Retention and erasure"). Attendance days are summed
-- up and stored before their passages are purged; a mark says up to which day they were.
-- An erasure (PIPL art. 47) stamps the person and may replace names in earlier audit entries.
ALTER TABLE "person" ADD COLUMN "erased_at" TIMESTAMPTZ;
CREATE TABLE "attendance_day_tally" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL,
    "day" DATE NOT NULL,
    "passages" INT NOT NULL,
    "first_in" TIMESTAMPTZ,
    "last_out" TIMESTAMPTZ,
    "inside_us" BIGINT NOT NULL,
    "ends_inside" BOOL NOT NULL,
    "exits_before_entry" INT NOT NULL,
    CONSTRAINT "uid_attendance__person__73271d" UNIQUE ("person_id", "day")
);
CREATE INDEX "idx_attendance__day_5dc1ca" ON "attendance_day_tally" ("day");
CREATE TABLE "retention_mark" (
    "kind" VARCHAR(32) NOT NULL PRIMARY KEY,
    "since" DATE NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "audit_redaction" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "entry_id" BIGINT NOT NULL,
    "erasure_entry_id" BIGINT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_audit_redac_entry_i_a15034" UNIQUE ("entry_id", "erasure_entry_id")
);
CREATE FUNCTION gatehouse_audit_redaction_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation'; END $$;
CREATE TRIGGER "audit_redaction_append_only" BEFORE UPDATE OR DELETE ON "audit_redaction"
FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_redaction_append_only();
-- The audit log stays append-only with two narrow exceptions, both checked here, in the
-- database, whatever the application asks:
-- an entry may be deleted only once it is older than 180 days by the database's own clock
-- (Cybersecurity Law art. 21: network logs kept at least six months), whatever the setting;
-- an entry may change only in its names (actor_name, detail), only while an audit_redaction
-- row names it and an erasure entry (personalDataErased) that says who erased whom and why.
-- Who did what, when, from where and how it ended never changes.
-- Refusals are integrity violations (SQLSTATE 23000), as SQLite's RAISE(ABORT) is, so the
-- application sees one kind of error on both databases.
-- (The statements of the body share lines: migrations split at a ";" that ends a line.)
CREATE OR REPLACE FUNCTION gatehouse_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD."at" < now() - INTERVAL '180 days' THEN RETURN OLD; END IF
  ; ELSIF NEW."id" = OLD."id" AND NEW."at" IS NOT DISTINCT FROM OLD."at"
    AND NEW."actor_id" IS NOT DISTINCT FROM OLD."actor_id" AND NEW."address" IS NOT DISTINCT FROM OLD."address"
    AND NEW."action" IS NOT DISTINCT FROM OLD."action" AND NEW."target_type" IS NOT DISTINCT FROM OLD."target_type"
    AND NEW."target_id" IS NOT DISTINCT FROM OLD."target_id" AND NEW."outcome" IS NOT DISTINCT FROM OLD."outcome"
    AND EXISTS (
      SELECT 1 FROM "audit_redaction" r JOIN "audit_entry" e ON e."id" = r."erasure_entry_id"
      WHERE r."entry_id" = OLD."id" AND e."action" = 'personalDataErased'
    ) THEN
    RETURN NEW
  ; END IF
  ; RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation'
  ; END $$;
