"""The evacuation roll call: who is inside now, from the presence state the gates keep (or, while
that state is lost after a Redis restart, from the event log: resolvers/scan/presence.py).

Presence is per person and zone (an IN puts someone in a zone, an OUT takes them out of
it and its sub-zones), so the roll call of a zone is everyone in it or in a zone below it.
People whose access ended while inside stay on it, marked apart (`roll_call`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from resolvers.core.models import Person, PersonKind, PersonStatus, Visit, VisitStatus
from resolvers.runtime import Runtime
from resolvers.scan import presence


async def inside_now(rt: Runtime, zone_id: int | None) -> dict[int, list[int]]:
    """Person id → the zones they are in (ids ascending), by person id; with `zone_id`, only
    that zone's subtree counts."""
    # Not rt.state directly: after a Redis loss it would say nobody is inside (presence.py).
    inside = await presence.everyone_inside(rt.state, rt.topology)
    if zone_id is not None:
        wanted = (await rt.topology.get()).subtree(zone_id)
        inside = {person: zones & wanted for person, zones in inside.items() if zones & wanted}
    return {person: sorted(inside[person]) for person in sorted(inside)}


class MusterStatus(StrEnum):
    INSIDE = "INSIDE"
    # Their access ended while the gates hold them inside (offboarded, their visit ended) and no
    # exit is on record: they may have left unseen or still be inside. An evacuation roll call
    # must neither drop them nor hide the change; a guard confirms they left (`confirmLeft`).
    CHECKED_OUT_WITHOUT_EXIT = "CHECKED_OUT_WITHOUT_EXIT"


@dataclass(frozen=True)
class MusterEntry:
    person_id: int
    zone_ids: list[int]
    status: MusterStatus = MusterStatus.INSIDE
    access_ended_at: datetime | None = None
    note: str | None = None


# A visit in one of these is over: the visitor's pass was revoked or never worked.
_ENDED_VISITS = (VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED, VisitStatus.EXPIRED, VisitStatus.REJECTED)


async def roll_call(rt: Runtime, zone_id: int | None) -> list[MusterEntry]:
    """Everyone the gates hold inside (as `inside_now`), each with whether their access ended
    meanwhile: two queries (the people, the visitors' latest visits), whatever the count."""
    inside = await inside_now(rt, zone_id)
    people = await Person.filter(id__in=list(inside)).values("id", "kind", "status", "offboarded_at")
    ended: dict[int, tuple[datetime | None, str]] = {}
    visitors = []
    for p in people:
        if PersonStatus(p["status"]) is PersonStatus.OFFBOARDED:
            ended[p["id"]] = (p["offboarded_at"], "offboarded")
        elif PersonKind(p["kind"]) is PersonKind.VISITOR:
            visitors.append(p["id"])
    latest: dict[int, dict[str, Any]] = {}
    for v in (
        await Visit.filter(visitor_id__in=visitors)
        .order_by("id")
        .values("visitor_id", "status", "checked_out_at", "expected_end")
    ):
        latest[v["visitor_id"]] = v  # ordered by id: the last one wins
    for visitor_id, v in latest.items():
        status = VisitStatus(v["status"])
        if status in _ENDED_VISITS:
            when = v["checked_out_at"] if status is VisitStatus.CHECKED_OUT else v["expected_end"]
            ended[visitor_id] = (when, f"visit {status.value.lower().replace('_', ' ')}")
    known = {p["id"] for p in people}
    out = []
    for person_id, zones in inside.items():
        if person_id not in known:
            continue
        if person_id in ended:
            when, what = ended[person_id]
            at = f" at {when.isoformat(timespec='minutes')}" if when is not None else ""
            out.append(
                MusterEntry(
                    person_id,
                    zones,
                    MusterStatus.CHECKED_OUT_WITHOUT_EXIT,
                    when,
                    f"{what}{at} with no exit passage: may still be inside; confirm they left",
                )
            )
        else:
            out.append(MusterEntry(person_id, zones))
    return out
