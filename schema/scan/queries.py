"""Root query fields: scan."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core.models import Decision, EntryMethod
from resolvers.scan import event_queries
from schema.core.context import Info
from schema.core.errors import optional_id
from schema.core.pagination import Connection, check_first, decode_cursor
from schema.core.permissions import IsEventReader
from schema.scan.types import GateEvent, event_connection


@strawberry.type
class ScanQuery:
    @strawberry.field(permission_classes=[IsEventReader], description="The gate event log, newest first.")
    async def gate_events(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        zone_id: strawberry.ID | None = None,
        gate_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
        method: EntryMethod | None = None,
        decision: Decision | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[GateEvent]:
        first = check_first(first)
        zones = None
        if zone_id is not None:
            zones = (await info.context.rt.topology.get()).subtree(optional_id(zone_id, "zone") or 0)
        where = event_queries.EventFilter(
            person_id=optional_id(person_id, "person"),
            department_id=optional_id(department_id, "department"),
            gate_id=optional_id(gate_id, "gate"),
            zone_ids=zones,
            method=method,
            decision=decision,
            since=since,
            until=until,
        )
        rows = await event_queries.events_page(first, decode_cursor("ev", after), where=where)
        return event_connection(rows, first, after)
