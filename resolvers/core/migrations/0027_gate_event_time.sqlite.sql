-- The gate events in a span of time, through an index of their own: the fleet check counts every
-- device's decisions of the last hour each upkeep interval (resolvers/devices/fleet.py), and with
-- no index on the time it walked the whole log, 20 times a check (a page of 500 devices each, by
-- an index led by the device): 2,000,000 events of history took 4-5 s of CPU every 30 s,
-- growing with the log (issue 13; bench/fleet_history.py). Restarts (the used tokens of the last
-- minute) and reports over a period read the same way. New events come at the index's end, so it
-- costs an insert little; an index led by the device would have touched a page of its own per
-- event (+40% per event on a 2,000,000-event log).
CREATE INDEX IF NOT EXISTS "idx_gate_event_at" ON "gate_event" ("at");
-- What it costs is won back here: only offline uploads carry a device sequence number, yet the
-- unique index held an entry for every online scan's NULL. Partial, it keeps only the uploads'
-- (the rule it enforces is the same: NULLs never collide).
DROP INDEX "uid_gate_event_device__e1bdff";
CREATE UNIQUE INDEX "uid_gate_event_device__e1bdff" ON "gate_event" ("device_id", "device_seq")
    WHERE "device_seq" IS NOT NULL;
