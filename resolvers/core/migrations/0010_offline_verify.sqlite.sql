-- Offline uploads are verified: each (credential, step) is used up once, by the event that used it
-- (online scan or verified uploaded passage); NULL steps (every other event) never clash.
ALTER TABLE "gate_event" ADD COLUMN "credential_step" BIGINT;
CREATE UNIQUE INDEX "uid_gate_event_credent_4ce062" ON "gate_event" ("credential_cid", "credential_step");
CREATE TABLE "device_snapshot" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "issued_at" TIMESTAMP NOT NULL,
    "valid_until" TIMESTAMP NOT NULL,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE
) /* An offline snapshot issued to a device: an event it uploads must fall within one's validity. */;
CREATE INDEX "idx_device_snap_device__d71f53" ON "device_snapshot" ("device_id", "valid_until");
