-- Notifications (issue 16, README "Notifications"): the outbox (one message to one address on one
-- channel, sealed until sent), each person's channels per kind, and on the person the email (sealed,
-- keyed hash, masked, like the phone), quiet hours and the language of their messages.
CREATE TABLE "notification" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(128) NOT NULL UNIQUE,
    "kind" VARCHAR(64) NOT NULL,
    "channel" VARCHAR(32) NOT NULL,
    "person_id" INT,
    "host_id" INT,
    "address_enc" BLOB NOT NULL,
    "address_hash" VARCHAR(64) NOT NULL,
    "payload_enc" BLOB,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "next_attempt_at" TIMESTAMP NOT NULL,
    "lease_until" TIMESTAMP,
    "last_error" VARCHAR(500) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "sent_at" TIMESTAMP,
    "provider_id" VARCHAR(200),
    "cause" VARCHAR(64) NOT NULL
);
CREATE INDEX "idx_notificatio_status_5784de" ON "notification" ("status", "next_attempt_at");
CREATE INDEX "idx_notificatio_address_1691f4" ON "notification" ("address_hash", "created_at");
CREATE INDEX "idx_notificatio_host_id_590965" ON "notification" ("host_id", "created_at");
CREATE TABLE "notification_preference" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT NOT NULL,
    "kind" VARCHAR(64) NOT NULL,
    "channels" JSON NOT NULL,
    CONSTRAINT "uid_notificatio_person__4e1355" UNIQUE ("person_id", "kind")
);
ALTER TABLE "person" ADD COLUMN "email_enc" BLOB;
ALTER TABLE "person" ADD COLUMN "email_hash" VARCHAR(64);
ALTER TABLE "person" ADD COLUMN "email_masked" VARCHAR(64);
ALTER TABLE "person" ADD COLUMN "quiet_hours_start" VARCHAR(5);
ALTER TABLE "person" ADD COLUMN "quiet_hours_end" VARCHAR(5);
ALTER TABLE "person" ADD COLUMN "notify_language" VARCHAR(8) NOT NULL DEFAULT 'zh-CN';
CREATE INDEX "idx_person_email_h_notify" ON "person" ("email_hash");
