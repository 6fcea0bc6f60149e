-- Approvals nobody could decide: a department may name a deputy who decides in its head's
-- place, and an emergency visit's approval escalates up the departments like an item step.
ALTER TABLE "department" ADD COLUMN "deputy_id" INT;
ALTER TABLE "visit" ADD COLUMN "approval_level" INT NOT NULL DEFAULT 0;
ALTER TABLE "visit" ADD COLUMN "approval_escalated_at" TIMESTAMP;
