-- A gate device may be a labelled asset; disposing of the asset retires the device.
ALTER TABLE "device" ADD COLUMN "asset_id" INT;
