"""Reading the gate event log: keyset pages, newest first."""

from __future__ import annotations

from typing import Any

from api.models import GateEvent

EVENT_FIELDS = ("id", "at", "decision", "reason", "method", "direction", "offline", "gate_id", "person_id")


async def events_page(
    first: int,
    before_id: int | None,
    *,
    person_id: int | None = None,
    gate_id: int | None = None,
    zone_ids: set[int] | None = None,
) -> list[dict[str, Any]]:
    """Up to first + 1 rows (the extra one says whether there is a next page)."""
    query = GateEvent.all()
    if person_id is not None:
        query = query.filter(person_id=person_id)
    if gate_id is not None:
        query = query.filter(gate_id=gate_id)
    if zone_ids is not None:
        query = query.filter(zone_id__in=zone_ids)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1).values(*EVENT_FIELDS)
