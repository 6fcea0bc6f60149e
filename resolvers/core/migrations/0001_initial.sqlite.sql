-- Initial schema, generated from api/models.py by Tortoise's schema generator.
CREATE TABLE "department" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL UNIQUE,
    "head_id" INT,
    "created_at" TIMESTAMP NOT NULL,
    "parent_id" INT REFERENCES "department" ("id") ON DELETE RESTRICT
);
CREATE TABLE "device" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "kind" VARCHAR(16) NOT NULL /* QR_SCANNER: QR_SCANNER\nFACE_TERMINAL: FACE_TERMINAL\nTURNSTILE: TURNSTILE */,
    "secret_hash" VARCHAR(64) NOT NULL,
    "status" VARCHAR(16) NOT NULL /* ACTIVE: ACTIVE\nRETIRED: RETIRED */,
    "firmware" VARCHAR(64) NOT NULL,
    "last_seen_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE "device_alert" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "gate_id" INT,
    "kind" VARCHAR(32) NOT NULL,
    "message" VARCHAR(500) NOT NULL,
    "payload" JSON NOT NULL,
    "resolved_at" TIMESTAMP,
    "device_id" INT REFERENCES "device" ("id") ON DELETE CASCADE
) /* Something a guard or technician must look at: a misconfigured or silent device, a forced door. */;
CREATE TABLE "person" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL /* EMPLOYEE: EMPLOYEE\nVISITOR: VISITOR */,
    "username" VARCHAR(100) UNIQUE,
    "password_hash" VARCHAR(200),
    "display_name" VARCHAR(200) NOT NULL,
    "gender" VARCHAR(16) /* FEMALE: FEMALE\nMALE: MALE\nOTHER: OTHER\nUNDISCLOSED: UNDISCLOSED */,
    "document_type" VARCHAR(16) NOT NULL /* WORK_BADGE: WORK_BADGE\nID_CARD: ID_CARD\nPASSPORT: PASSPORT\nOTHER: OTHER */,
    "id_number_enc" BLOB,
    "id_number_hash" VARCHAR(64),
    "id_number_masked" VARCHAR(64),
    "phone_enc" BLOB,
    "phone_hash" VARCHAR(64),
    "phone_masked" VARCHAR(64),
    "position" VARCHAR(200) NOT NULL,
    "roles" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL /* ACTIVE: ACTIVE\nOFFBOARDED: OFFBOARDED */,
    "created_at" TIMESTAMP NOT NULL,
    "offboarded_at" TIMESTAMP,
    "department_id" INT REFERENCES "department" ("id") ON DELETE RESTRICT
);
CREATE INDEX "idx_person_id_numb_8dabde" ON "person" ("id_number_hash");
CREATE INDEX "idx_person_phone_h_fb9772" ON "person" ("phone_hash");
CREATE TABLE "credential" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "cid" VARCHAR(16) NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL /* PHONE: PHONE\nCUSTODIAL: CUSTODIAL */,
    "public_key" BLOB NOT NULL,
    "private_key_enc" BLOB,
    "period" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL /* ACTIVE: ACTIVE\nREVOKED: REVOKED\nSUPERSEDED: SUPERSEDED */,
    "device_name" VARCHAR(200) NOT NULL,
    "valid_until" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "ended_at" TIMESTAMP,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_credential_person__7a9a4a" ON "credential" ("person_id", "status");
CREATE TABLE "device_command" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "gate_id" INT,
    "command" VARCHAR(32) NOT NULL,
    "payload" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "acked_at" TIMESTAMP,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "issued_by_id" INT REFERENCES "person" ("id") ON DELETE SET NULL
);
CREATE TABLE "refresh_session" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "rotated_at" TIMESTAMP,
    "expires_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
) /* One login; the refresh token rotates within it and revoking it ends the access tokens too. */;
CREATE TABLE "zone" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "anti_passback" VARCHAR(8) NOT NULL /* OFF: OFF\nSOFT: SOFT\nHARD: HARD */,
    "created_at" TIMESTAMP NOT NULL,
    "parent_id" INT REFERENCES "zone" ("id") ON DELETE RESTRICT
);
CREATE TABLE "gate" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "direction" VARCHAR(8) NOT NULL /* IN: IN\nOUT: OUT\nBOTH: BOTH */,
    "created_at" TIMESTAMP NOT NULL,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT
);
CREATE TABLE "device_gate" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_device_gate_device__e3c044" UNIQUE ("device_id", "gate_id")
);
CREATE TABLE "door_report" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "reported_at" TIMESTAMP,
    "received_at" TIMESTAMP NOT NULL,
    "device_id" INT NOT NULL REFERENCES "device" ("id") ON DELETE CASCADE,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE CASCADE
);
CREATE TABLE "gate_event" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "zone_id" INT NOT NULL,
    "credential_cid" VARCHAR(16),
    "decision" VARCHAR(8) /* GRANTED: GRANTED\nDENIED: DENIED */,
    "reason" VARCHAR(32) NOT NULL,
    "method" VARCHAR(8) /* QR: QR\nFACE: FACE\nMANUAL: MANUAL\nREMOTE: REMOTE */,
    "direction" VARCHAR(4) /* IN: IN\nOUT: OUT */,
    "device_ref" VARCHAR(128),
    "payload" JSON NOT NULL,
    "offline" INT NOT NULL,
    "device_id" INT REFERENCES "device" ("id") ON DELETE RESTRICT,
    "gate_id" INT NOT NULL REFERENCES "gate" ("id") ON DELETE RESTRICT,
    "operator_id" INT REFERENCES "person" ("id") ON DELETE RESTRICT,
    "person_id" INT REFERENCES "person" ("id") ON DELETE RESTRICT
) /* One passage decision, manual entry, remote open or door alarm: the log everything reads. */;
CREATE INDEX "idx_gate_event_person__fcf66f" ON "gate_event" ("person_id", "id");
CREATE INDEX "idx_gate_event_gate_id_df59ed" ON "gate_event" ("gate_id", "id");
CREATE INDEX "idx_gate_event_zone_id_c8c643" ON "gate_event" ("zone_id", "id");
CREATE INDEX "idx_gate_event_device__8cb2bd" ON "gate_event" ("device_id", "device_ref");
CREATE TABLE "access_grant" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "valid_from" TIMESTAMP,
    "valid_until" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "created_by_id" INT REFERENCES "person" ("id") ON DELETE SET NULL,
    "department_id" INT REFERENCES "department" ("id") ON DELETE CASCADE,
    "person_id" INT REFERENCES "person" ("id") ON DELETE CASCADE,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT
);
CREATE INDEX "idx_access_gran_person__d19f69" ON "access_grant" ("person_id", "zone_id");
CREATE INDEX "idx_access_gran_departm_5e0005" ON "access_grant" ("department_id", "zone_id");
