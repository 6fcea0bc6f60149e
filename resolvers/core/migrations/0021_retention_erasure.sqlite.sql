-- Retention and erasure (issue 17; README "Retention and erasure"). Attendance days are summed
-- up and stored before their passages are purged; a mark says up to which day they were.
-- An erasure (PIPL art. 47) stamps the person and may replace names in earlier audit entries.
ALTER TABLE "person" ADD COLUMN "erased_at" TIMESTAMP;
CREATE TABLE "attendance_day_tally" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT NOT NULL,
    "day" DATE NOT NULL,
    "passages" INT NOT NULL,
    "first_in" TIMESTAMP,
    "last_out" TIMESTAMP,
    "inside_us" BIGINT NOT NULL,
    "ends_inside" INT NOT NULL,
    "exits_before_entry" INT NOT NULL,
    CONSTRAINT "uid_attendance__person__73271d" UNIQUE ("person_id", "day")
) /* One person's attendance day as `day_tallies.day_tallies` summed it up from the passages, */;
CREATE INDEX "idx_attendance__day_5dc1ca" ON "attendance_day_tally" ("day");
CREATE TABLE "retention_mark" (
    "kind" VARCHAR(32) NOT NULL PRIMARY KEY,
    "since" DATE NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
) /* How far a purge has gone. `passages`: attendance days before `since` are read from */;
CREATE TABLE "audit_redaction" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "entry_id" BIGINT NOT NULL,
    "erasure_entry_id" BIGINT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_audit_redac_entry_i_a15034" UNIQUE ("entry_id", "erasure_entry_id")
) /* An audit entry whose names an erasure replaced by a pseudonym (PIPL art. 47). The audit */;
CREATE TRIGGER "audit_redaction_no_update" BEFORE UPDATE ON "audit_redaction"
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER "audit_redaction_no_delete" BEFORE DELETE ON "audit_redaction"
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- The audit log stays append-only with two narrow exceptions, both checked here, in the
-- database, whatever the application asks:
-- an entry may be deleted only once it is older than 180 days by the database's own clock
-- (Cybersecurity Law art. 21: network logs kept at least six months), whatever the setting;
-- an entry may change only in its names (actor_name, detail), only while an audit_redaction
-- row names it and an erasure entry (personalDataErased) that says who erased whom and why.
-- Who did what, when, from where and how it ended never changes. (Stored instants are UTC
-- text "YYYY-MM-DD HH:MM:SS…", so they compare with datetime() as text.)
DROP TRIGGER "audit_entry_no_update";
DROP TRIGGER "audit_entry_no_delete";
CREATE TRIGGER "audit_entry_no_update" BEFORE UPDATE ON "audit_entry"
WHEN NOT (
    NEW."id" = OLD."id" AND NEW."at" IS OLD."at" AND NEW."actor_id" IS OLD."actor_id"
    AND NEW."address" IS OLD."address" AND NEW."action" IS OLD."action"
    AND NEW."target_type" IS OLD."target_type" AND NEW."target_id" IS OLD."target_id"
    AND NEW."outcome" IS OLD."outcome"
    AND EXISTS (
        SELECT 1 FROM "audit_redaction" r JOIN "audit_entry" e ON e."id" = r."erasure_entry_id"
        WHERE r."entry_id" = OLD."id" AND e."action" = 'personalDataErased'
    )
)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER "audit_entry_no_delete" BEFORE DELETE ON "audit_entry"
WHEN OLD."at" >= datetime('now', '-180 days')
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
