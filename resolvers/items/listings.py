"""The item lists the API pages through, one query per page.

Each page is read by keyset: `after` is the id of the last row of the previous page (the
GraphQL layer wraps it in an opaque cursor). A list ordered by something other than its id
finds its place again from that row's sort key, so paging never skips or repeats a row
however many rows came before. Every function returns up to `first + 1` rows: the extra
row only tells the caller there is a next page.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q

from resolvers.core import clock
from resolvers.core.models import (
    Asset,
    AssetStatus,
    Item,
    ItemCategory,
    ItemCheck,
    ItemRequest,
    RequestKind,
    RequestStatus,
    StockLocation,
)


async def items_page(first: int, after_id: int | None, category: ItemCategory | None) -> list[Item]:
    """The catalogue by name."""
    query = Item.all() if category is None else Item.filter(category=category)
    if after_id is not None:
        anchor = await Item.filter(id=after_id).values_list("name", flat=True)
        if not anchor:
            return []
        query = query.filter(Q(name__gt=anchor[0]) | Q(name=anchor[0], id__gt=after_id))
    return await query.order_by("name", "id").limit(first + 1)


@dataclass(frozen=True)
class AssetFilter:
    item_id: int | None = None
    status: AssetStatus | None = None
    holder_id: int | None = None


async def assets_page(first: int, after_id: int | None, where: AssetFilter) -> list[Asset]:
    """Assets in the order they were labelled."""
    query = Asset.all()
    if where.item_id is not None:
        query = query.filter(item_id=where.item_id)
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.holder_id is not None:
        query = query.filter(holder_person_id=where.holder_id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


async def locations_page(first: int, after_id: int | None) -> list[StockLocation]:
    query = StockLocation.all() if after_id is None else StockLocation.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


@dataclass(frozen=True)
class RequestFilter:
    requester_id: int | None = None  # None: everyone's
    status: RequestStatus | None = None
    kind: RequestKind | None = None


async def requests_page(first: int, before_id: int | None, where: RequestFilter) -> list[ItemRequest]:
    """Requests, newest first."""
    query = ItemRequest.all()
    if where.requester_id is not None:
        query = query.filter(requester_id=where.requester_id)
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.kind is not None:
        query = query.filter(kind=where.kind)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def held_assets_page(person_id: int, first: int, after_id: int | None) -> list[Asset]:
    """A person's assets: those due back first (soonest first), then those without a date."""
    held = Asset.filter(holder_person_id=person_id)
    dated: list[Asset] = []
    anchor_due = None
    if after_id is not None:
        anchor = await Asset.filter(id=after_id).values_list("due_back", flat=True)
        if not anchor:
            return []
        anchor_due = anchor[0]
    if after_id is None or anchor_due is not None:
        query = held.filter(due_back__not_isnull=True)
        if anchor_due is not None:
            query = query.filter(Q(due_back__gt=anchor_due) | Q(due_back=anchor_due, id__gt=after_id))
        dated = await query.order_by("due_back", "id").limit(first + 1)
    if len(dated) > first:
        return dated
    undated = held.filter(due_back__isnull=True)
    if after_id is not None and anchor_due is None:
        undated = undated.filter(id__gt=after_id)
    return dated + await undated.order_by("id").limit(first + 1 - len(dated))


async def overdue_loans_page(first: int, after_id: int | None) -> list[Asset]:
    """Lent assets past their return date, the longest overdue first."""
    query = Asset.filter(status=AssetStatus.LENT, due_back__lt=clock.now())
    if after_id is not None:
        anchor = await Asset.filter(id=after_id).values_list("due_back", flat=True)
        if not anchor or anchor[0] is None:
            return []
        query = query.filter(Q(due_back__gt=anchor[0]) | Q(due_back=anchor[0], id__gt=after_id))
    return await query.order_by("due_back", "id").limit(first + 1)


async def checks_page(first: int, before_id: int | None, status: str | None) -> list[ItemCheck]:
    """Item checks at the gates, newest first."""
    query = ItemCheck.all() if status is None else ItemCheck.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def find_request(request_id: int) -> ItemRequest | None:
    """A request named by a bus message (None if it is not there)."""
    return await ItemRequest.get_or_none(id=request_id)


async def find_asset(asset_id: int) -> Asset | None:
    return await Asset.get_or_none(id=asset_id)


async def find_check(check_id: int) -> ItemCheck | None:
    return await ItemCheck.get_or_none(id=check_id)
