"""Batch reads behind the GraphQL loaders (see resolvers/people/batches.py): visits by id and
each visit's zones, many visits at once.

(Moved here unchanged from schema/core/loaders.py so schema/ does no ORM work.)
"""

from __future__ import annotations

from collections.abc import Sequence

from resolvers.core.models import Visit, VisitZone, Zone


async def visits_by_ids(ids: Sequence[int]) -> list[Visit | None]:
    found = {v.id: v for v in await Visit.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def zones_of_visits(visit_ids: Sequence[int]) -> list[list[Zone]]:
    """Each visit's zones, by zone id."""
    links = await VisitZone.filter(visit_id__in=set(visit_ids)).order_by("zone_id").values("visit_id", "zone_id")
    zones = {z.id: z for z in await Zone.filter(id__in={link["zone_id"] for link in links})}
    out: dict[int, list[Zone]] = {v: [] for v in visit_ids}
    for link in links:
        out[link["visit_id"]].append(zones[link["zone_id"]])
    return [out[v] for v in visit_ids]
