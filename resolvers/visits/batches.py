"""Batch reads behind the GraphQL DataLoaders of visits: one query for a whole list's keys.

Each function takes the keys one request collected and answers in the same order, so a
list of fifty visits costs the same few queries as a list of one.
"""

from __future__ import annotations

from collections.abc import Sequence

from resolvers.core.models import Visit, VisitZone, Zone


async def visits_by_ids(ids: Sequence[int]) -> list[Visit | None]:
    found = {v.id: v for v in await Visit.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def zones_of_visits(visit_ids: Sequence[int]) -> list[list[Zone]]:
    """Each visit's zones, by zone id (one query: the links joined to their zones)."""
    links = await VisitZone.filter(visit_id__in=set(visit_ids)).select_related("zone").order_by("zone_id")
    out: dict[int, list[Zone]] = {v: [] for v in visit_ids}
    for link in links:
        out[link.visit_id].append(link.zone)
    return [out[v] for v in visit_ids]
