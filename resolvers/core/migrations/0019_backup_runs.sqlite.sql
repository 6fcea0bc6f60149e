-- Backups (issue 17, POLICY 6.1): every run, scheduled or by hand, leaves a row, failed ones too,
-- so "no good backup lately" can be seen and asked about.
CREATE TABLE "backup_run" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "started_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "file_name" VARCHAR(255) NOT NULL DEFAULT '',
    "size" BIGINT NOT NULL DEFAULT 0,
    "sha256" VARCHAR(64) NOT NULL DEFAULT '',
    "ok" INT NOT NULL,
    "error" VARCHAR(1000) NOT NULL DEFAULT '',
    "offsite_ok" INT,
    "offsite_error" VARCHAR(1000) NOT NULL DEFAULT ''
) /* One backup, scheduled or by hand: kept whether it worked or not, so a failure is seen. */;
CREATE INDEX "idx_backup_run_started_7c1f0e" ON "backup_run" ("started_at");
