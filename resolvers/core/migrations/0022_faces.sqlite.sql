-- Faces (issue 15; README "Faces"): consent records (kept after withdrawal), sealed templates,
-- the zones that need face and pass, and what a FACE decision stores with its event.
CREATE TABLE "face_consent" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT NOT NULL,
    "given_at" TIMESTAMP NOT NULL,
    "text_version" VARCHAR(32) NOT NULL,
    "given_via" VARCHAR(8) NOT NULL,
    "given_by_id" INT,
    "withdrawn_at" TIMESTAMP
);
CREATE INDEX "idx_face_consen_person__b8e0d4" ON "face_consent" ("person_id");
CREATE TABLE "face_template" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "person_id" INT NOT NULL UNIQUE,
    "sealed" BLOB NOT NULL,
    "photo_sealed" BLOB,
    "consent_id" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL
);
ALTER TABLE "zone" ADD COLUMN "face_and_pass" INT NOT NULL DEFAULT 0;
ALTER TABLE "gate_event" ADD COLUMN "match_distance" REAL;
ALTER TABLE "gate_event" ADD COLUMN "liveness" INT;
