-- Attendance: work schedules (per person or department) and HR corrections.
ALTER TABLE "person" ADD COLUMN "work_schedule_id" INT;
ALTER TABLE "department" ADD COLUMN "work_schedule_id" INT;
CREATE TABLE "attendance_correction" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL,
    "day" DATE NOT NULL,
    "first_in" TIMESTAMPTZ,
    "last_out" TIMESTAMPTZ,
    "reason" VARCHAR(500) NOT NULL,
    "corrected_by_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "idx_attendance__person__4bc5cb" ON "attendance_correction" ("person_id", "day");
COMMENT ON TABLE "attendance_correction" IS 'HR''s correction of one person''s day (a forgotten exit scan, a broken gate), with the reason.';
CREATE TABLE "work_schedule" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL UNIQUE,
    "weekdays" JSONB NOT NULL,
    "start" VARCHAR(5) NOT NULL,
    "end" VARCHAR(5) NOT NULL,
    "grace_minutes" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "work_schedule" IS 'A shift: weekdays, start and end in the site''s time zone (end before start crosses midnight).';
