-- A second factor (RFC 6238 TOTP): the secret sealed like the ID number, a pending one until
-- confirmed, the last accepted step (each code works once) and hashed one-time recovery codes;
-- a session remembers when it passed the second factor and when its holder last confirmed who they are.
ALTER TABLE "person" ADD COLUMN "totp_secret_enc" BYTEA;
ALTER TABLE "person" ADD COLUMN "totp_pending_enc" BYTEA;
ALTER TABLE "person" ADD COLUMN "totp_enabled_at" TIMESTAMPTZ;
ALTER TABLE "person" ADD COLUMN "totp_last_step" BIGINT;
ALTER TABLE "refresh_session" ADD COLUMN "second_factor_at" TIMESTAMPTZ;
ALTER TABLE "refresh_session" ADD COLUMN "confirmed_at" TIMESTAMPTZ;
CREATE TABLE "totp_recovery_code" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "code_hash" VARCHAR(64) NOT NULL UNIQUE,
    "used_at" TIMESTAMPTZ,
    "person_id" INT NOT NULL REFERENCES "person" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_totp_recovery_code_person" ON "totp_recovery_code" ("person_id");
COMMENT ON TABLE "totp_recovery_code" IS 'A one-time code that stands in for a TOTP code (a lost phone); stored as a keyed hash, shown once when the second factor is confirmed, spent on use.';
