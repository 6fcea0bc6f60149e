-- Initial schema, generated from api/models.py by Tortoise's schema generator.
CREATE TABLE "department" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL UNIQUE,
    "head_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "parent_id" INT REFERENCES "department" ("id") ON DELETE RESTRICT
);
CREATE TABLE "device" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "secret_hash" VARCHAR(64) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "firmware" VARCHAR(64) NOT NULL,
    "last_seen_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "device"."kind" IS 'QR_SCANNER: QR_SCANNER\nFACE_TERMINAL: FACE_TERMINAL\nTURNSTILE: TURNSTILE';
COMMENT ON COLUMN "device"."status" IS 'ACTIVE: ACTIVE\nRETIRED: RETIRED';
CREATE TABLE "device_alert" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    "gate_id" INT,
    "kind" VARCHAR(32) NOT NULL,
    "message" VARCHAR(500) NOT NULL,
    "payload" JSONB NOT NULL,
    "resolved_at" TIMESTAMPTZ,
    "device_id" INT REFERENCES "device" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "device_alert" IS 'Something a guard or technician must look at: a misconfigured or silent device, a forced door.';
CREATE TABLE "person" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL,
    "username" VARCHAR(100) UNIQUE,
    "password_hash" VARCHAR(200),
    "display_name" VARCHAR(200) NOT NULL,
    "gender" VARCHAR(16),
    "document_type" VARCHAR(16) NOT NULL,
    "id_number_enc" BYTEA,
    "id_number_hash" VARCHAR(64),
    "id_number_masked" VARCHAR(64),
    "phone_enc" BYTEA,
    "phone_hash" VARCHAR(64),
    "phone_masked" VARCHAR(64),
    "position" VARCHAR(200) NOT NULL,
    "roles" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "offboarded_at" TIMESTAMPTZ,
    "department_id" INT REFERENCES "department" ("id") ON DELETE RESTRICT
);
CREATE INDEX "idx_person_id_numb_8dabde" ON "person" ("id_number_hash");
CREATE INDEX "idx_person_phone_h_fb9772" ON "person" ("phone_hash");
COMMENT ON COLUMN "person"."kind" IS 'EMPLOYEE: EMPLOYEE\nVISITOR: VISITOR';
COMMENT ON COLUMN "person"."gender" IS 'FEMALE: FEMALE\nMALE: MALE\nOTHER: OTHER\nUNDISCLOSED: UNDISCLOSED';
COMMENT ON COLUMN "person"."document_type" IS 'WORK_BADGE: WORK_BADGE\nID_CARD: ID_CARD\nPASSPORT: PASSPORT\nOTHER: OTHER';
COMMENT ON COLUMN "person"."status" IS 'ACTIVE: ACTIVE\nOFFBOARDED: OFFBOARDED';
CREATE TABLE "credential" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "cid" VARCHAR(16) NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL,
    "public_key" BYTEA NOT NULL,
    "private_key_enc" BYTEA,
    "period" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "device_name" VARCHAR(200) NOT NULL,
    "valid_until" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "ended_at" TIMESTAMPTZ,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_credential_person__7a9a4a" ON "credential" ("person_id", "status");
COMMENT ON COLUMN "credential"."kind" IS 'PHONE: PHONE\nCUSTODIAL: CUSTODIAL';
COMMENT ON COLUMN "credential"."status" IS 'ACTIVE: ACTIVE\nREVOKED: REVOKED\nSUPERSEDED: SUPERSEDED';
CREATE TABLE "device_command" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "gate_id" INT,
    "command" VARCHAR(32) NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "acked_at" TIMESTAMPTZ,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "issued_by_id" INT REFERENCES "person" ("id") ON DELETE SET NULL
);
CREATE TABLE "refresh_session" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "rotated_at" TIMESTAMPTZ,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "refresh_session" IS 'One login; the refresh token rotates within it and revoking it ends the access tokens too.';
CREATE TABLE "zone" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "anti_passback" VARCHAR(8) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "parent_id" INT REFERENCES "zone" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "zone"."anti_passback" IS 'OFF: OFF\nSOFT: SOFT\nHARD: HARD';
CREATE TABLE "gate" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "direction" VARCHAR(8) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "gate"."direction" IS 'IN: IN\nOUT: OUT\nBOTH: BOTH';
CREATE TABLE "device_gate" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_device_gate_device__e3c044" UNIQUE ("device_id", "gate_id")
);
CREATE TABLE "door_report" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "state" VARCHAR(16) NOT NULL,
    "reported_at" TIMESTAMPTZ,
    "received_at" TIMESTAMPTZ NOT NULL,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE CASCADE
);
CREATE TABLE "gate_event" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    "zone_id" INT NOT NULL,
    "credential_cid" VARCHAR(16),
    "decision" VARCHAR(8),
    "reason" VARCHAR(32) NOT NULL,
    "method" VARCHAR(8),
    "direction" VARCHAR(4),
    "device_ref" VARCHAR(128),
    "payload" JSONB NOT NULL,
    "offline" BOOL NOT NULL,
    "device_id" INT REFERENCES "device" ("id") ON DELETE RESTRICT,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE RESTRICT,
    "operator_id" INT REFERENCES "person" ("id") ON DELETE RESTRICT,
    "person_id" INT REFERENCES "person" ("id") ON DELETE RESTRICT
);
CREATE INDEX "idx_gate_event_person__fcf66f" ON "gate_event" ("person_id", "id");
CREATE INDEX "idx_gate_event_gate_id_df59ed" ON "gate_event" ("gate_id", "id");
CREATE INDEX "idx_gate_event_zone_id_c8c643" ON "gate_event" ("zone_id", "id");
CREATE INDEX "idx_gate_event_device__8cb2bd" ON "gate_event" ("device_id", "device_ref");
COMMENT ON COLUMN "gate_event"."decision" IS 'GRANTED: GRANTED\nDENIED: DENIED';
COMMENT ON COLUMN "gate_event"."method" IS 'QR: QR\nFACE: FACE\nMANUAL: MANUAL\nREMOTE: REMOTE';
COMMENT ON COLUMN "gate_event"."direction" IS 'IN: IN\nOUT: OUT';
COMMENT ON TABLE "gate_event" IS 'One passage decision, manual entry, remote open or door alarm: the log everything reads.';
CREATE TABLE "access_grant" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "valid_from" TIMESTAMPTZ,
    "valid_until" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "created_by_id" INT REFERENCES "person" ("id") ON DELETE SET NULL,
    "department_id" INT REFERENCES "department" ("id") ON DELETE CASCADE,
    "person_id" INT REFERENCES "person" ("id") ON DELETE CASCADE,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT
);
CREATE INDEX "idx_access_gran_person__d19f69" ON "access_grant" ("person_id", "zone_id");
CREATE INDEX "idx_access_gran_departm_5e0005" ON "access_grant" ("department_id", "zone_id");
