-- Stocktakes (issue 18, POLICY 7.2 stock accuracy; README "Supervision" / "Stocktakes"): the
-- count of one location or all, the snapshot of what was expected at its opening, the labels
-- scanned (once each) and the unlabelled stock counted, the handhelds counting for it, and the
-- variances found at its close, each adjusted through an approved request.
CREATE TABLE "stocktake" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "location_id" INT,
    "status" VARCHAR(16) NOT NULL,
    "opened_by_id" INT NOT NULL,
    "opened_at" TIMESTAMPTZ NOT NULL,
    "counted_by_id" INT,
    "counted_at" TIMESTAMPTZ,
    "closed_at" TIMESTAMPTZ,
    "expected" JSONB NOT NULL
);
CREATE INDEX "idx_stocktake_status_610424" ON "stocktake" ("status");
CREATE INDEX "idx_stocktake_counted_b721ac" ON "stocktake" ("counted_at");
CREATE TABLE "stocktake_scan" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "stocktake_id" INT NOT NULL,
    "asset_id" INT NOT NULL,
    "location_id" INT NOT NULL,
    "by_person_id" INT,
    "by_device_id" INT,
    "at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_stocktake_s_stockta_803a79" UNIQUE ("stocktake_id", "asset_id")
);
CREATE TABLE "stocktake_count" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "stocktake_id" INT NOT NULL,
    "item_id" INT NOT NULL,
    "location_id" INT NOT NULL,
    "quantity" INT NOT NULL,
    "by_id" INT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_stocktake_c_stockta_d28c9e" UNIQUE ("stocktake_id", "item_id", "location_id")
);
CREATE TABLE "stocktake_device" (
    "device_id" INT NOT NULL PRIMARY KEY,
    "stocktake_id" INT NOT NULL,
    "location_id" INT NOT NULL,
    "assigned_by_id" INT NOT NULL,
    "assigned_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "stocktake_variance" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "stocktake_id" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "item_id" INT NOT NULL,
    "asset_id" INT,
    "location_id" INT,
    "recorded_location_id" INT,
    "expected" INT NOT NULL,
    "counted" INT NOT NULL,
    "request_id" INT,
    "adjusted_at" TIMESTAMPTZ
);
CREATE INDEX "idx_stocktake_v_stockta_c6a183" ON "stocktake_variance" ("stocktake_id", "kind");
