-- Devices: lifecycle and commissioning checklist, health samples, maintenance,
-- lockdowns and evacuations, and events uploaded by gates that decided offline.
UPDATE "device" SET "status" = 'IN_SERVICE' WHERE "status" = 'ACTIVE';
ALTER TABLE "device" ADD COLUMN "network_reached_at" TIMESTAMP;
ALTER TABLE "device" ADD COLUMN "config_loaded_at" TIMESTAMP;
ALTER TABLE "device" ADD COLUMN "test_scan_at" TIMESTAMP;
ALTER TABLE "device" ADD COLUMN "last_stats" JSON NOT NULL DEFAULT '{}';
ALTER TABLE "device" ADD COLUMN "offline_alerted_at" TIMESTAMP;
ALTER TABLE "device" ADD COLUMN "health_alerted_at" TIMESTAMP;
ALTER TABLE "gate_event" ADD COLUMN "device_seq" BIGINT;
ALTER TABLE "gate_event" ADD COLUMN "latency_ms" REAL;
ALTER TABLE "device_command" ADD COLUMN "attempts" INT NOT NULL DEFAULT 1;
ALTER TABLE "device_command" ADD COLUMN "last_sent_at" TIMESTAMP;
ALTER TABLE "device_command" ADD COLUMN "failed_at" TIMESTAMP;
CREATE UNIQUE INDEX "uid_gate_event_device__e1bdff" ON "gate_event" ("device_id", "device_seq");
CREATE TABLE "device_health_sample" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "device_id" INT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "scans" INT NOT NULL,
    "decode_failures" INT NOT NULL,
    "recognition_attempts" INT NOT NULL,
    "recognition_successes" INT NOT NULL
) /* One heartbeat's worth of a device's figures, for the rolling health window. */;
CREATE INDEX "idx_device_heal_device__0b830e" ON "device_health_sample" ("device_id", "at");
CREATE TABLE "lockdown" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "zone_id" INT,
    "gate_id" INT,
    "mode" VARCHAR(16) NOT NULL,
    "reason" VARCHAR(500) NOT NULL,
    "started_by_id" INT,
    "started_at" TIMESTAMP NOT NULL,
    "released_by_id" INT,
    "released_at" TIMESTAMP
) /* A zone (with its sub-zones) shut, or held open for evacuation, until released. */;
CREATE TABLE "maintenance_plan" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "device_id" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL /* CLEANING: CLEANING\nINSPECTION: INSPECTION\nCALIBRATION: CALIBRATION\nSOFTWARE_UPDATE: SOFTWARE_UPDATE\nREPAIR: REPAIR */,
    "interval_days" INT NOT NULL,
    "next_due" TIMESTAMP NOT NULL,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE "maintenance_record" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "device_id" INT NOT NULL,
    "plan_id" INT,
    "kind" VARCHAR(16) NOT NULL /* CLEANING: CLEANING\nINSPECTION: INSPECTION\nCALIBRATION: CALIBRATION\nSOFTWARE_UPDATE: SOFTWARE_UPDATE\nREPAIR: REPAIR */,
    "done_at" TIMESTAMP NOT NULL,
    "done_by_id" INT,
    "notes" VARCHAR(1000) NOT NULL
);
CREATE TABLE "device_target" (
    "kind" VARCHAR(16) NOT NULL PRIMARY KEY /* QR_SCANNER: QR_SCANNER\nFACE_TERMINAL: FACE_TERMINAL\nTURNSTILE: TURNSTILE */,
    "min_decode_success" REAL NOT NULL,
    "min_recognition_success" REAL NOT NULL,
    "max_latency_ms" REAL NOT NULL,
    "max_denied_ratio" REAL NOT NULL
) /* What a device kind must achieve (POLICY 5.2): rates as fractions, latency in milliseconds. */;
