-- Supervision (issue 18, POLICY 7): inspections (periodic, spot, special), their checklists and
-- findings, rectification notices to departments with the evidence they file.
CREATE TABLE "inspection_schedule" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "title" VARCHAR(200) NOT NULL,
    "areas" JSON NOT NULL,
    "cadence" VARCHAR(16) NOT NULL,
    "day" INT NOT NULL,
    "lead_id" INT NOT NULL,
    "next_due" DATE NOT NULL,
    "active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL
) /* A periodic inspection: the leading worker's upkeep opens one each time it falls due. */;
CREATE TABLE "inspection" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL /* PERIODIC: PERIODIC\nSPOT: SPOT\nSPECIAL: SPECIAL */,
    "title" VARCHAR(200) NOT NULL,
    "topic" VARCHAR(500) NOT NULL,
    "areas" JSON NOT NULL,
    "period_start" TIMESTAMP NOT NULL,
    "period_end" TIMESTAMP NOT NULL,
    "sample" VARCHAR(1000) NOT NULL,
    "sample_department_ids" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PLANNED: PLANNED\nIN_PROGRESS: IN_PROGRESS\nREPORTED: REPORTED */,
    "lead_id" INT NOT NULL,
    "member_ids" JSON NOT NULL,
    "schedule_id" INT,
    "created_at" TIMESTAMP NOT NULL,
    "started_at" TIMESTAMP,
    "reported_at" TIMESTAMP,
    "report" JSON,
    CONSTRAINT "uid_inspection_schedul_b1db87" UNIQUE ("schedule_id", "period_start")
);
CREATE INDEX "idx_inspection_status_3a3f11" ON "inspection" ("status");
CREATE TABLE "inspection_checklist_item" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "position" INT NOT NULL,
    "area" VARCHAR(16) NOT NULL,
    "text" VARCHAR(500) NOT NULL,
    "result" VARCHAR(4),
    "note" VARCHAR(1000) NOT NULL,
    "answered_by_id" INT,
    "answered_at" TIMESTAMP,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE
);
CREATE TABLE "inspection_finding" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "source" VARCHAR(64) NOT NULL,
    "key" VARCHAR(200) NOT NULL,
    "area" VARCHAR(16) NOT NULL,
    "summary" VARCHAR(1000) NOT NULL,
    "department_id" INT,
    "subject_type" VARCHAR(32),
    "subject_id" VARCHAR(64),
    "evidence" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PROPOSED: PROPOSED\nCONFIRMED: CONFIRMED\nDISMISSED: DISMISSED */,
    "created_at" TIMESTAMP NOT NULL,
    "decided_by_id" INT,
    "decided_at" TIMESTAMP,
    "reason" VARCHAR(1000) NOT NULL,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_inspection__inspect_21baac" UNIQUE ("inspection_id", "key")
);
CREATE TABLE "rectification_notice" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "finding_ids" JSON NOT NULL,
    "department_id" INT NOT NULL,
    "requirement" VARCHAR(2000) NOT NULL,
    "deadline" TIMESTAMP NOT NULL,
    "status" VARCHAR(16) NOT NULL /* ISSUED: ISSUED\nANSWERED: ANSWERED\nRETURNED: RETURNED\nVERIFIED: VERIFIED */,
    "issued_by_id" INT NOT NULL,
    "issued_at" TIMESTAMP NOT NULL,
    "answer" VARCHAR(4000) NOT NULL,
    "answered_by_id" INT,
    "answered_at" TIMESTAMP,
    "return_reason" VARCHAR(1000) NOT NULL,
    "verified_by_id" INT,
    "verified_at" TIMESTAMP,
    "escalated_at" TIMESTAMP,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_rectificati_departm_640f95" ON "rectification_notice" ("department_id", "status");
CREATE INDEX "idx_rectificati_status_f8c890" ON "rectification_notice" ("status", "deadline");
CREATE TABLE "rectification_notice_file" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "content_type" VARCHAR(100) NOT NULL,
    "size" INT NOT NULL,
    "data" BLOB NOT NULL,
    "uploaded_by_id" INT NOT NULL,
    "uploaded_at" TIMESTAMP NOT NULL,
    "notice_id" INT NOT NULL REFERENCES "rectification_notice" ("id") ON DELETE CASCADE
) /* Evidence a department files with its answer, kept in the database beside the notice. */;
