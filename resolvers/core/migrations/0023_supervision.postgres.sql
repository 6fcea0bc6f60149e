-- Supervision (issue 18, POLICY 7): inspections (periodic, spot, special), their checklists and
-- findings, rectification notices to departments with the evidence they file.
CREATE TABLE "inspection_schedule" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "title" VARCHAR(200) NOT NULL,
    "areas" JSONB NOT NULL,
    "cadence" VARCHAR(16) NOT NULL,
    "day" INT NOT NULL,
    "lead_id" INT NOT NULL,
    "next_due" DATE NOT NULL,
    "active" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "inspection_schedule" IS 'A periodic inspection: the leading worker''s upkeep opens one each time it falls due.';
CREATE TABLE "inspection" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL,
    "title" VARCHAR(200) NOT NULL,
    "topic" VARCHAR(500) NOT NULL,
    "areas" JSONB NOT NULL,
    "period_start" TIMESTAMPTZ NOT NULL,
    "period_end" TIMESTAMPTZ NOT NULL,
    "sample" VARCHAR(1000) NOT NULL,
    "sample_department_ids" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "lead_id" INT NOT NULL,
    "member_ids" JSONB NOT NULL,
    "schedule_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "started_at" TIMESTAMPTZ,
    "reported_at" TIMESTAMPTZ,
    "report" JSONB,
    CONSTRAINT "uid_inspection_schedul_b1db87" UNIQUE ("schedule_id", "period_start")
);
CREATE INDEX "idx_inspection_status_3a3f11" ON "inspection" ("status");
COMMENT ON COLUMN "inspection"."kind" IS 'PERIODIC: PERIODIC\nSPOT: SPOT\nSPECIAL: SPECIAL';
COMMENT ON COLUMN "inspection"."status" IS 'PLANNED: PLANNED\nIN_PROGRESS: IN_PROGRESS\nREPORTED: REPORTED';
CREATE TABLE "inspection_checklist_item" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "position" INT NOT NULL,
    "area" VARCHAR(16) NOT NULL,
    "text" VARCHAR(500) NOT NULL,
    "result" VARCHAR(4),
    "note" VARCHAR(1000) NOT NULL,
    "answered_by_id" INT,
    "answered_at" TIMESTAMPTZ,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE
);
CREATE TABLE "inspection_finding" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "source" VARCHAR(64) NOT NULL,
    "key" VARCHAR(200) NOT NULL,
    "area" VARCHAR(16) NOT NULL,
    "summary" VARCHAR(1000) NOT NULL,
    "department_id" INT,
    "subject_type" VARCHAR(32),
    "subject_id" VARCHAR(64),
    "evidence" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "decided_by_id" INT,
    "decided_at" TIMESTAMPTZ,
    "reason" VARCHAR(1000) NOT NULL,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_inspection__inspect_21baac" UNIQUE ("inspection_id", "key")
);
COMMENT ON COLUMN "inspection_finding"."status" IS 'PROPOSED: PROPOSED\nCONFIRMED: CONFIRMED\nDISMISSED: DISMISSED';
CREATE TABLE "rectification_notice" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "finding_ids" JSONB NOT NULL,
    "department_id" INT NOT NULL,
    "requirement" VARCHAR(2000) NOT NULL,
    "deadline" TIMESTAMPTZ NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "issued_by_id" INT NOT NULL,
    "issued_at" TIMESTAMPTZ NOT NULL,
    "answer" VARCHAR(4000) NOT NULL,
    "answered_by_id" INT,
    "answered_at" TIMESTAMPTZ,
    "return_reason" VARCHAR(1000) NOT NULL,
    "verified_by_id" INT,
    "verified_at" TIMESTAMPTZ,
    "escalated_at" TIMESTAMPTZ,
    "inspection_id" INT NOT NULL REFERENCES "inspection" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_rectificati_departm_640f95" ON "rectification_notice" ("department_id", "status");
CREATE INDEX "idx_rectificati_status_f8c890" ON "rectification_notice" ("status", "deadline");
COMMENT ON COLUMN "rectification_notice"."status" IS 'ISSUED: ISSUED\nANSWERED: ANSWERED\nRETURNED: RETURNED\nVERIFIED: VERIFIED';
CREATE TABLE "rectification_notice_file" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "content_type" VARCHAR(100) NOT NULL,
    "size" INT NOT NULL,
    "data" BYTEA NOT NULL,
    "uploaded_by_id" INT NOT NULL,
    "uploaded_at" TIMESTAMPTZ NOT NULL,
    "notice_id" INT NOT NULL REFERENCES "rectification_notice" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "rectification_notice_file" IS 'Evidence a department files with its answer, kept in the database beside the notice.';
