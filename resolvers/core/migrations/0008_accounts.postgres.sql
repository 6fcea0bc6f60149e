-- Issued passwords must be changed and expire; rotated refresh tokens are remembered so a
-- copied one revokes its session; failed sign-ins bring expiring delays per account and address.
ALTER TABLE "person" ADD COLUMN "password_issued_at" TIMESTAMPTZ;
CREATE TABLE "retired_refresh_token" (
    "token_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "retired_at" TIMESTAMPTZ NOT NULL,
    "session_id" INT NOT NULL REFERENCES "refresh_session" ("id") ON DELETE CASCADE
);
CREATE TABLE "login_throttle" (
    "key" VARCHAR(64) NOT NULL PRIMARY KEY,
    "failures" INT NOT NULL DEFAULT 0,
    "last_failed_at" TIMESTAMPTZ NOT NULL,
    "blocked_until" TIMESTAMPTZ
);
