-- Labels scanned at a gate where no pass named their carrier are held for the guard in a check
-- of their own: an item check's person may be unknown (null). Each label added bumps
-- scan_count, so a guard's decision is taken on the list as read.
ALTER TABLE "item_check" ALTER COLUMN "person_id" DROP NOT NULL;
ALTER TABLE "item_check" ADD COLUMN "scan_count" INT NOT NULL DEFAULT 0;
