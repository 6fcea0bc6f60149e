-- Devices: lifecycle and commissioning checklist, health samples, maintenance,
-- lockdowns and evacuations, and events uploaded by gates that decided offline.
UPDATE "device" SET "status" = 'IN_SERVICE' WHERE "status" = 'ACTIVE';
ALTER TABLE "device" ADD COLUMN "network_reached_at" TIMESTAMPTZ;
ALTER TABLE "device" ADD COLUMN "config_loaded_at" TIMESTAMPTZ;
ALTER TABLE "device" ADD COLUMN "test_scan_at" TIMESTAMPTZ;
ALTER TABLE "device" ADD COLUMN "last_stats" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "device" ADD COLUMN "offline_alerted_at" TIMESTAMPTZ;
ALTER TABLE "device" ADD COLUMN "health_alerted_at" TIMESTAMPTZ;
ALTER TABLE "gate_event" ADD COLUMN "device_seq" BIGINT;
ALTER TABLE "gate_event" ADD COLUMN "latency_ms" DOUBLE PRECISION;
ALTER TABLE "device_command" ADD COLUMN "attempts" INT NOT NULL DEFAULT 1;
ALTER TABLE "device_command" ADD COLUMN "last_sent_at" TIMESTAMPTZ;
ALTER TABLE "device_command" ADD COLUMN "failed_at" TIMESTAMPTZ;
ALTER TABLE "gate_event" ADD CONSTRAINT "uid_gate_event_device__e1bdff" UNIQUE ("device_id", "device_seq");
CREATE TABLE "device_health_sample" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "device_id" INT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    "scans" INT NOT NULL,
    "decode_failures" INT NOT NULL,
    "recognition_attempts" INT NOT NULL,
    "recognition_successes" INT NOT NULL
);
CREATE INDEX "idx_device_heal_device__0b830e" ON "device_health_sample" ("device_id", "at");
COMMENT ON TABLE "device_health_sample" IS 'One heartbeat''s worth of a device''s figures, for the rolling health window.';
CREATE TABLE "lockdown" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "zone_id" INT,
    "gate_id" INT,
    "mode" VARCHAR(16) NOT NULL,
    "reason" VARCHAR(500) NOT NULL,
    "started_by_id" INT,
    "started_at" TIMESTAMPTZ NOT NULL,
    "released_by_id" INT,
    "released_at" TIMESTAMPTZ
);
COMMENT ON TABLE "lockdown" IS 'A zone (with its sub-zones) shut, or held open for evacuation, until released.';
CREATE TABLE "maintenance_plan" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "device_id" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "interval_days" INT NOT NULL,
    "next_due" TIMESTAMPTZ NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "maintenance_plan"."kind" IS 'CLEANING: CLEANING\nINSPECTION: INSPECTION\nCALIBRATION: CALIBRATION\nSOFTWARE_UPDATE: SOFTWARE_UPDATE\nREPAIR: REPAIR';
CREATE TABLE "maintenance_record" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "device_id" INT NOT NULL,
    "plan_id" INT,
    "kind" VARCHAR(16) NOT NULL,
    "done_at" TIMESTAMPTZ NOT NULL,
    "done_by_id" INT,
    "notes" VARCHAR(1000) NOT NULL
);
COMMENT ON COLUMN "maintenance_record"."kind" IS 'CLEANING: CLEANING\nINSPECTION: INSPECTION\nCALIBRATION: CALIBRATION\nSOFTWARE_UPDATE: SOFTWARE_UPDATE\nREPAIR: REPAIR';
CREATE TABLE "device_target" (
    "kind" VARCHAR(16) NOT NULL PRIMARY KEY,
    "min_decode_success" DOUBLE PRECISION NOT NULL,
    "min_recognition_success" DOUBLE PRECISION NOT NULL,
    "max_latency_ms" DOUBLE PRECISION NOT NULL,
    "max_denied_ratio" DOUBLE PRECISION NOT NULL
);
COMMENT ON COLUMN "device_target"."kind" IS 'QR_SCANNER: QR_SCANNER\nFACE_TERMINAL: FACE_TERMINAL\nTURNSTILE: TURNSTILE';
COMMENT ON TABLE "device_target" IS 'What a device kind must achieve (POLICY 5.2): rates as fractions, latency in milliseconds.';
