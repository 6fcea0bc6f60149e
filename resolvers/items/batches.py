"""Batch reads behind the GraphQL DataLoaders of items: one query for a whole list's keys.

Each function takes the keys one request collected and answers in the same order, so a
list of fifty requests, assets or movements costs the same few queries as a list of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from tortoise.functions import Count, Sum
from tortoise.models import Model

from resolvers.core.models import Asset, AssetStatus, Item, ItemRequest, StockLevel, StockLocation

M = TypeVar("M", bound=Model)


async def _by_id(model: type[M], ids: Sequence[int]) -> list[M | None]:
    rows = {row.pk: row for row in await model.filter(id__in=set(ids))}
    return [rows.get(i) for i in ids]


async def items_by_id(ids: Sequence[int]) -> list[Item | None]:
    return await _by_id(Item, ids)


async def assets_by_id(ids: Sequence[int]) -> list[Asset | None]:
    return await _by_id(Asset, ids)


async def locations_by_id(ids: Sequence[int]) -> list[StockLocation | None]:
    return await _by_id(StockLocation, ids)


async def requests_by_id(ids: Sequence[int]) -> list[ItemRequest | None]:
    return await _by_id(ItemRequest, ids)


async def in_stock(keys: Sequence[tuple[int, bool]]) -> list[int]:
    """What is in stock of each (item id, serialized) key: labelled assets in stock for a
    serialized item, units over every location for a stock item."""
    serialized = {item for item, labelled in keys if labelled}
    counted = {item for item, labelled in keys if not labelled}
    assets: dict[int, int] = {}
    units: dict[int, int] = {}
    if serialized:
        rows = (
            await Asset.filter(item_id__in=serialized, status=AssetStatus.IN_STOCK)
            .annotate(n=Count("id"))
            .group_by("item_id")
            .values("item_id", "n")
        )
        assets = {r["item_id"]: int(r["n"]) for r in rows}
    if counted:
        rows = (
            await StockLevel.filter(item_id__in=counted)
            .annotate(total=Sum("quantity"))
            .group_by("item_id")
            .values("item_id", "total")
        )
        units = {r["item_id"]: int(r["total"] or 0) for r in rows}
    return [(assets if labelled else units).get(item, 0) for item, labelled in keys]
