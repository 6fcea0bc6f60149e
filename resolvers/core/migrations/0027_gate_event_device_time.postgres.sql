-- The fleet check (every upkeep interval, resolvers/devices/fleet.py) and a device's health read a
-- device's decisions of the last hour (or days). The only index naming the device was
-- (device_id, device_ref), so each query visited every event the device ever had, and more as
-- the log grew (issue 13; bench/fleet_history.py). This index reads the window alone.
CREATE INDEX "idx_gate_event_device_at" ON "gate_event" ("device_id", "at");
-- Its cost on every insert is won back here: only offline uploads carry a device sequence number,
-- and the unique constraint also held an entry for every online scan's NULL. Partial, it keeps
-- only the uploads' (the rule it enforces is the same: NULLs never collide).
ALTER TABLE "gate_event" DROP CONSTRAINT "uid_gate_event_device__e1bdff";
CREATE UNIQUE INDEX "uid_gate_event_device__e1bdff" ON "gate_event" ("device_id", "device_seq")
    WHERE "device_seq" IS NOT NULL;
