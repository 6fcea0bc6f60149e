-- Visits, their zones and the watchlist (issue: visitors).
CREATE TABLE "visit" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "visitor_name" VARCHAR(200) NOT NULL,
    "phone_enc" BLOB,
    "phone_hash" VARCHAR(64),
    "phone_masked" VARCHAR(64),
    "company" VARCHAR(200) NOT NULL,
    "purpose" VARCHAR(500) NOT NULL,
    "expected_start" TIMESTAMP NOT NULL,
    "expected_end" TIMESTAMP NOT NULL,
    "status" VARCHAR(20) NOT NULL /* INVITED: INVITED\nPENDING_APPROVAL: PENDING_APPROVAL\nAPPROVED: APPROVED\nREJECTED: REJECTED\nCHECKED_IN: CHECKED_IN\nCHECKED_OUT: CHECKED_OUT\nCANCELLED: CANCELLED\nEXPIRED: EXPIRED */,
    "invite_code_hash" VARCHAR(64) UNIQUE,
    "emergency" INT NOT NULL,
    "emergency_reason" VARCHAR(500) NOT NULL,
    "escorted" INT NOT NULL,
    "escort_ids" JSON NOT NULL,
    "approved_by_id" INT,
    "approved_at" TIMESTAMP,
    "rejected_reason" VARCHAR(500) NOT NULL,
    "checked_in_at" TIMESTAMP,
    "checked_in_by_id" INT,
    "checked_out_at" TIMESTAMP,
    "checked_out_by_id" INT,
    "site_entries" INT NOT NULL,
    "reminded_at" TIMESTAMP,
    "overstay_alerted_at" TIMESTAMP,
    "anonymised_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "host_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE RESTRICT,
    "visitor_id" INT REFERENCES "person" ("id") ON DELETE RESTRICT
) /* One booked (or emergency) visit: the visitor's person record exists from registration on. */;
CREATE INDEX "idx_visit_phone_h_8d4d30" ON "visit" ("phone_hash");
CREATE INDEX "idx_visit_host_id_364ab3" ON "visit" ("host_id", "id");
CREATE INDEX "idx_visit_status_35b17e" ON "visit" ("status", "expected_end");
CREATE INDEX "idx_visit_expecte_c6f63c" ON "visit" ("expected_start");
CREATE TABLE "watchlist_entry" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "id_number_hash" VARCHAR(64) NOT NULL,
    "id_number_masked" VARCHAR(64) NOT NULL,
    "reason" VARCHAR(500) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "lifted_at" TIMESTAMP,
    "created_by_id" INT REFERENCES "person" ("id") ON DELETE SET NULL
) /* A person security has blocked, known only by the keyed hash of their ID number. */;
CREATE INDEX "idx_watchlist_e_id_numb_5b6ec1" ON "watchlist_entry" ("id_number_hash");
CREATE TABLE "visit_zone" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "visit_id" INT NOT NULL REFERENCES "visit" ("id") ON DELETE CASCADE,
    "zone_id" INT NOT NULL REFERENCES "zone" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_visit_zone_visit_i_e967fd" UNIQUE ("visit_id", "zone_id")
);
