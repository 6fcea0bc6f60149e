-- Items and assets: catalogue, stock, labelled assets, workflows, movements, gate item checks.
CREATE TABLE "asset" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "item_id" INT NOT NULL,
    "serial" VARCHAR(100) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "location_id" INT,
    "holder_person_id" INT,
    "holder_department_id" INT,
    "owner_department_id" INT,
    "due_back" TIMESTAMPTZ,
    "purchased_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "idx_asset_item_id_d7fb55" ON "asset" ("item_id", "status");
CREATE INDEX "idx_asset_holder__4fb644" ON "asset" ("holder_person_id");
COMMENT ON COLUMN "asset"."status" IS 'IN_STOCK: IN_STOCK\nISSUED: ISSUED\nLENT: LENT\nSCRAP_PENDING: SCRAP_PENDING\nDISPOSED: DISPOSED';
COMMENT ON TABLE "asset" IS 'One labelled unit of a serialized item.';
CREATE TABLE "item" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "spec" VARCHAR(200) NOT NULL,
    "category" VARCHAR(24) NOT NULL,
    "serialized" BOOL NOT NULL,
    "unit" VARCHAR(20) NOT NULL,
    "department_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "item"."category" IS 'OFFICE_SUPPLIES: OFFICE_SUPPLIES\nPRODUCTION_MATERIALS: PRODUCTION_MATERIALS\nMAINTENANCE_PARTS: MAINTENANCE_PARTS\nOTHER: OTHER';
COMMENT ON TABLE "item" IS 'A kind of thing: serialized assets carry one label each; stock items are counted per location.';
CREATE TABLE "item_check" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "person_id" INT NOT NULL,
    "gate_id" INT,
    "direction" VARCHAR(4) NOT NULL,
    "declared" JSONB NOT NULL,
    "scanned" JSONB NOT NULL,
    "problems" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "decided_by_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "decided_at" TIMESTAMPTZ
);
COMMENT ON TABLE "item_check" IS 'A person carrying items through a gate: what they declared, what the labels said, the guard''s call.';
CREATE TABLE "item_movement" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    "kind" VARCHAR(24) NOT NULL,
    "item_id" INT NOT NULL,
    "asset_id" INT,
    "quantity" INT NOT NULL,
    "location_id" INT,
    "person_id" INT,
    "department_id" INT,
    "request_id" INT,
    "gate_id" INT,
    "by_id" INT,
    "notes" VARCHAR(500) NOT NULL
);
CREATE INDEX "idx_item_moveme_item_id_bdaeb1" ON "item_movement" ("item_id", "id");
CREATE INDEX "idx_item_moveme_asset_i_b58ff9" ON "item_movement" ("asset_id", "id");
CREATE INDEX "idx_item_moveme_person__01b3c1" ON "item_movement" ("person_id", "id");
CREATE INDEX "idx_item_moveme_request_b6b7d5" ON "item_movement" ("request_id");
COMMENT ON TABLE "item_movement" IS 'Every step an item takes, scanned: the trace an audit follows.';
CREATE TABLE "item_request" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "requester_id" INT NOT NULL,
    "department_id" INT,
    "item_id" INT,
    "quantity" INT NOT NULL,
    "details" JSONB NOT NULL,
    "steps" JSONB NOT NULL,
    "history" JSONB NOT NULL,
    "fulfilled_quantity" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "idx_item_reques_status_1c0cbf" ON "item_request" ("status", "kind");
CREATE INDEX "idx_item_reques_request_4a9a81" ON "item_request" ("requester_id");
COMMENT ON COLUMN "item_request"."kind" IS 'PURCHASE: PURCHASE\nREQUISITION: REQUISITION\nBORROW: BORROW\nSCRAP: SCRAP';
COMMENT ON COLUMN "item_request"."status" IS 'PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED\nFULFILLED: FULFILLED\nCANCELLED: CANCELLED';
COMMENT ON TABLE "item_request" IS 'One workflow instance (purchase, requisition, borrowing, scrapping) and its approval steps.';
CREATE TABLE "stock_level" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "item_id" INT NOT NULL,
    "location_id" INT NOT NULL,
    "quantity" INT NOT NULL,
    CONSTRAINT "uid_stock_level_item_id_b435ed" UNIQUE ("item_id", "location_id")
);
CREATE TABLE "stock_location" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL UNIQUE,
    "zone_id" INT
);
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_never_negative" CHECK ("quantity" >= 0);
