-- Attendance: work schedules (per person or department) and HR corrections.
ALTER TABLE "person" ADD COLUMN "work_schedule_id" INT;
ALTER TABLE "department" ADD COLUMN "work_schedule_id" INT;
CREATE TABLE "attendance_correction" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT NOT NULL,
    "day" DATE NOT NULL,
    "first_in" TIMESTAMP,
    "last_out" TIMESTAMP,
    "reason" VARCHAR(500) NOT NULL,
    "corrected_by_id" INT,
    "created_at" TIMESTAMP NOT NULL
) /* HR's correction of one person's day (a forgotten exit scan, a broken gate), with the reason. */;
CREATE INDEX "idx_attendance__person__4bc5cb" ON "attendance_correction" ("person_id", "day");
CREATE TABLE "work_schedule" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL UNIQUE,
    "weekdays" JSON NOT NULL,
    "start" VARCHAR(5) NOT NULL,
    "end" VARCHAR(5) NOT NULL,
    "grace_minutes" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL
) /* A shift: weekdays, start and end in the site's time zone (end before start crosses midnight). */;
