-- Labels scanned at a gate where no pass named their carrier are held for the guard in a check
-- of their own: an item check's person may be unknown (null). Each label added bumps
-- scan_count, so a guard's decision is taken on the list as read (SQLite: the table is rebuilt).
CREATE TABLE "item_check_0013" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT,
    "gate_id" INT,
    "direction" VARCHAR(4) NOT NULL,
    "declared" JSON NOT NULL,
    "scanned" JSON NOT NULL,
    "scan_count" INT NOT NULL DEFAULT 0,
    "problems" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "decided_by_id" INT,
    "created_at" TIMESTAMP NOT NULL,
    "decided_at" TIMESTAMP
) /* A person carrying items through a gate: what they declared, what the labels said, the guard's call. */;
INSERT INTO "item_check_0013" ("id", "person_id", "gate_id", "direction", "declared", "scanned", "problems",
                               "status", "decided_by_id", "created_at", "decided_at")
SELECT "id", "person_id", "gate_id", "direction", "declared", "scanned", "problems",
       "status", "decided_by_id", "created_at", "decided_at" FROM "item_check";
DROP TABLE "item_check";
ALTER TABLE "item_check_0013" RENAME TO "item_check";
