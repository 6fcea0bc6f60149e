-- Offline uploads are verified: each (credential, step) is used up once, by the event that used it
-- (online scan or verified uploaded passage); NULL steps (every other event) never clash.
ALTER TABLE "gate_event" ADD COLUMN "credential_step" BIGINT;
ALTER TABLE "gate_event" ADD CONSTRAINT "uid_gate_event_credent_4ce062" UNIQUE ("credential_cid", "credential_step");
CREATE TABLE "device_snapshot" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "issued_at" TIMESTAMPTZ NOT NULL,
    "valid_until" TIMESTAMPTZ NOT NULL,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_device_snap_device__d71f53" ON "device_snapshot" ("device_id", "valid_until");
COMMENT ON TABLE "device_snapshot" IS 'An offline snapshot issued to a device: an event it uploads must fall within one''s validity.';
