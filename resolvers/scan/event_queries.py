"""Reading the gate event log: keyset pages, newest first, with the filters the
supervision team asks by (time range, person, department, zone, gate, method, decision)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resolvers.core.models import Decision, EntryMethod, GateEvent

EVENT_FIELDS = ("id", "at", "decision", "reason", "method", "direction", "offline", "gate_id", "person_id")


@dataclass(frozen=True)
class EventFilter:
    person_id: int | None = None
    department_id: int | None = None
    gate_id: int | None = None
    zone_ids: set[int] | None = None
    method: EntryMethod | None = None
    decision: Decision | None = None
    since: datetime | None = None
    until: datetime | None = None


async def events_page(
    first: int,
    before_id: int | None,
    *,
    person_id: int | None = None,
    gate_id: int | None = None,
    zone_ids: set[int] | None = None,
    where: EventFilter | None = None,
) -> list[dict[str, Any]]:
    """Up to first + 1 rows (the extra one says whether there is a next page)."""
    f = where or EventFilter(person_id=person_id, gate_id=gate_id, zone_ids=zone_ids)
    query = GateEvent.all()
    if f.person_id is not None:
        query = query.filter(person_id=f.person_id)
    if f.department_id is not None:
        query = query.filter(person__department_id=f.department_id)
    if f.gate_id is not None:
        query = query.filter(gate_id=f.gate_id)
    if f.zone_ids is not None:
        query = query.filter(zone_id__in=f.zone_ids)
    if f.method is not None:
        query = query.filter(method=f.method)
    if f.decision is not None:
        query = query.filter(decision=f.decision)
    if f.since is not None:
        query = query.filter(at__gte=f.since)
    if f.until is not None:
        query = query.filter(at__lt=f.until)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1).values(*EVENT_FIELDS)


async def events_after(after_id: int, first: int, *, zone_ids: set[int] | None = None) -> list[dict[str, Any]]:
    """Up to `first` rows stored after `after_id`, oldest first: a resuming subscriber's replay."""
    query = GateEvent.filter(id__gt=after_id)
    if zone_ids is not None:
        query = query.filter(zone_id__in=zone_ids)
    return await query.order_by("id").limit(first).values(*EVENT_FIELDS)


async def more_after_than(after_id: int, limit: int, *, zone_ids: set[int] | None = None) -> bool:
    """Whether more than `limit` rows were stored after `after_id` (the replay's bound, one probe row)."""
    query = GateEvent.filter(id__gt=after_id)
    if zone_ids is not None:
        query = query.filter(zone_id__in=zone_ids)
    return bool(await query.order_by("id").offset(limit).limit(1).values_list("id", flat=True))


async def newest_id() -> int:
    """The newest stored event's id, 0 when none: where a live-only subscriber starts."""
    newest = await GateEvent.all().order_by("-id").limit(1).values("id")
    return int(newest[0]["id"]) if newest else 0
