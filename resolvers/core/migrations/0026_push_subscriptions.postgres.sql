-- Web Push subscriptions (issue 16; README "Notifications"): one row per browser a person turned
-- notifications on in; deleted when the push service answers 404/410.
CREATE TABLE "push_subscription" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL,
    "endpoint" VARCHAR(1024) NOT NULL UNIQUE,
    "p256dh" VARCHAR(100) NOT NULL,
    "auth" VARCHAR(32) NOT NULL,
    "user_agent" VARCHAR(256),
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_success_at" TIMESTAMPTZ
);
CREATE INDEX "idx_push_subscr_person__88e248" ON "push_subscription" ("person_id");
