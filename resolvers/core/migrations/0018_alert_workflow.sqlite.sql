-- The guards' alert workflow (issue 14): an alert is OPEN until someone acknowledges it, may be
-- assigned to one of the gate staff, and is CLOSED with a note; who did each step and when stays on
-- the row (the audit log holds the same steps with the request's address). "resolved_at", unused
-- until now, is when it was closed. Existing alerts start OPEN.
ALTER TABLE "device_alert" ADD COLUMN "status" VARCHAR(16) NOT NULL DEFAULT 'OPEN';
ALTER TABLE "device_alert" ADD COLUMN "acknowledged_at" TIMESTAMP;
ALTER TABLE "device_alert" ADD COLUMN "acknowledged_by_id" INT;
ALTER TABLE "device_alert" ADD COLUMN "assignee_id" INT;
ALTER TABLE "device_alert" ADD COLUMN "assigned_at" TIMESTAMP;
ALTER TABLE "device_alert" ADD COLUMN "assigned_by_id" INT;
ALTER TABLE "device_alert" ADD COLUMN "closed_by_id" INT;
ALTER TABLE "device_alert" ADD COLUMN "close_note" VARCHAR(500) NOT NULL DEFAULT '';
