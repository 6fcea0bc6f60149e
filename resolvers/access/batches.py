"""Batch reads behind the GraphQL loaders (see resolvers/people/batches.py): zones, gates and
grants by id, many at once, answers in key order."""

from __future__ import annotations

from collections.abc import Sequence

from resolvers.core.models import Gate, Grant, Zone


async def zones_by_ids(ids: Sequence[int]) -> list[Zone | None]:
    found = {z.id: z for z in await Zone.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def gates_by_ids(ids: Sequence[int]) -> list[Gate | None]:
    found = {g.id: g for g in await Gate.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def grants_by_ids(ids: Sequence[int]) -> list[Grant | None]:
    found = {g.id: g for g in await Grant.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]
