-- A second factor (RFC 6238 TOTP): the secret sealed like the ID number, a pending one until
-- confirmed, the last accepted step (each code works once) and hashed one-time recovery codes;
-- a session remembers when it passed the second factor and when its holder last confirmed who they are.
ALTER TABLE "person" ADD COLUMN "totp_secret_enc" BLOB;
ALTER TABLE "person" ADD COLUMN "totp_pending_enc" BLOB;
ALTER TABLE "person" ADD COLUMN "totp_enabled_at" TIMESTAMP;
ALTER TABLE "person" ADD COLUMN "totp_last_step" BIGINT;
ALTER TABLE "refresh_session" ADD COLUMN "second_factor_at" TIMESTAMP;
ALTER TABLE "refresh_session" ADD COLUMN "confirmed_at" TIMESTAMP;
CREATE TABLE "totp_recovery_code" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code_hash" VARCHAR(64) NOT NULL UNIQUE,
    "used_at" TIMESTAMP,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
) /* A one-time code that stands in for a TOTP code (a lost phone); stored as a keyed hash, shown once when the second factor is confirmed, spent on use. */;
CREATE INDEX "idx_totp_recovery_code_person" ON "totp_recovery_code" ("person_id");
