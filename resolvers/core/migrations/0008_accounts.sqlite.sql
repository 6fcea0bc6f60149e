-- Issued passwords must be changed and expire; rotated refresh tokens are remembered so a
-- copied one revokes its session; failed sign-ins bring expiring delays per account and address.
ALTER TABLE "person" ADD COLUMN "password_issued_at" TIMESTAMP;
CREATE TABLE "retired_refresh_token" (
    "token_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "retired_at" TIMESTAMP NOT NULL,
    "session_id" INT NOT NULL REFERENCES "refresh_session" ("id") ON DELETE CASCADE
) /* A refresh token already traded in: presenting it again means it was copied, and the session it belonged to is revoked at once (whoever rotated first, thief or owner). */;
CREATE TABLE "login_throttle" (
    "key" VARCHAR(64) NOT NULL PRIMARY KEY,
    "failures" INT NOT NULL DEFAULT 0,
    "last_failed_at" TIMESTAMP NOT NULL,
    "blocked_until" TIMESTAMP
) /* Failed sign-ins under one key (an account name or a client address, hashed): after a few, each further failure blocks the key for a growing while that expires on its own. */;
