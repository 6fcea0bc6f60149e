-- Backups (issue 17, POLICY 6.1): every run, scheduled or by hand, leaves a row, failed ones too,
-- so "no good backup lately" can be seen and asked about.
CREATE TABLE "backup_run" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "started_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "file_name" VARCHAR(255) NOT NULL DEFAULT '',
    "size" BIGINT NOT NULL DEFAULT 0,
    "sha256" VARCHAR(64) NOT NULL DEFAULT '',
    "ok" BOOL NOT NULL,
    "error" VARCHAR(1000) NOT NULL DEFAULT '',
    "offsite_ok" BOOL,
    "offsite_error" VARCHAR(1000) NOT NULL DEFAULT ''
);
CREATE INDEX "idx_backup_run_started_7c1f0e" ON "backup_run" ("started_at");
COMMENT ON TABLE "backup_run" IS 'One backup, scheduled or by hand: kept whether it worked or not, so a failure is seen.';
