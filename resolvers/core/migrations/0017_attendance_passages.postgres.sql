-- Attendance reads a month of granted passages person by person (issue 13, the monthly report):
-- each person's passages in time order straight from this index, zone and direction included,
-- so the log's wide rows (payload JSON) are not read. Partial: denials and door events, which
-- attendance never counts, stay out of it. Queries name the WHERE's literals so SQLite uses it.
CREATE INDEX "idx_gate_event_passage_person_at" ON "gate_event" ("person_id", "at", "zone_id", "direction")
    WHERE "decision" = 'GRANTED' AND "direction" IS NOT NULL;
