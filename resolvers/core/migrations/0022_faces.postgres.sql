-- Faces (issue 15; README "Faces"): consent records (kept after withdrawal), sealed templates,
-- the zones that need face and pass, and what a FACE decision stores with its event.
CREATE TABLE "face_consent" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL,
    "given_at" TIMESTAMPTZ NOT NULL,
    "text_version" VARCHAR(32) NOT NULL,
    "given_via" VARCHAR(8) NOT NULL,
    "given_by_id" INT,
    "withdrawn_at" TIMESTAMPTZ
);
CREATE INDEX "idx_face_consen_person__b8e0d4" ON "face_consent" ("person_id");
CREATE TABLE "face_template" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL UNIQUE,
    "sealed" BYTEA NOT NULL,
    "photo_sealed" BYTEA,
    "consent_id" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
ALTER TABLE "zone" ADD COLUMN "face_and_pass" BOOL NOT NULL DEFAULT FALSE;
ALTER TABLE "gate_event" ADD COLUMN "match_distance" DOUBLE PRECISION;
ALTER TABLE "gate_event" ADD COLUMN "liveness" BOOL;
