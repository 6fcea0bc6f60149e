"""Root query fields: items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.core.errors import is_id
from resolvers.core.models import AssetStatus, ItemCategory, RequestKind, RequestStatus
from resolvers.items import approvals, listings
from resolvers.items import catalogue as items
from schema.core.context import Info, actor_of
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.permissions import (
    ITEM_READERS,
    IsAuthenticated,
    IsEmployee,
    IsGateStaff,
    IsItemReader,
)
from schema.items.types import Asset, Item, ItemCheck, ItemMovement, ItemRequest, StockLocation


def _key(value: strawberry.ID | None) -> int | None:
    """A filter's id: one that cannot be an id matches nothing (ids are opaque, not validated)."""
    if value is None:
        return None
    return int(value) if is_id(value) else -1


@strawberry.type
class ItemQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The item catalogue, by name.")
    async def items(
        self, first: int = 50, after: str | None = None, category: ItemCategory | None = None
    ) -> Connection[Item]:
        first = check_first(first)
        rows = await listings.items_page(first, decode_cursor("item", after), category)
        return page_of(rows, first, "item", Item.of, after=after)

    @strawberry.field(permission_classes=[IsItemReader], description="Labelled assets with filters, oldest first.")
    async def assets(
        self,
        first: int = 50,
        after: str | None = None,
        item_id: strawberry.ID | None = None,
        status: AssetStatus | None = None,
        holder_id: strawberry.ID | None = None,
    ) -> Connection[Asset]:
        first = check_first(first)
        where = listings.AssetFilter(item_id=_key(item_id), status=status, holder_id=_key(holder_id))
        rows = await listings.assets_page(first, decode_cursor("asset", after), where)
        return page_of(rows, first, "asset", Asset.of, after=after)

    @strawberry.field(permission_classes=[IsItemReader], description="Where stock is kept, oldest first.")
    async def stock_locations(self, first: int = 50, after: str | None = None) -> Connection[StockLocation]:
        first = check_first(first)
        rows = await listings.locations_page(first, decode_cursor("location", after))
        return page_of(rows, first, "location", StockLocation.of, after=after)

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Requests, newest first: your own, or all of them for warehouse, procurement and oversight roles.",
    )
    async def item_requests(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        status: RequestStatus | None = None,
        kind: RequestKind | None = None,
    ) -> Connection[ItemRequest]:
        first = check_first(first)
        actor = actor_of(info)
        mine_only = None if actor.has_any(*ITEM_READERS) else actor.person_id
        where = listings.RequestFilter(requester_id=mine_only, status=status, kind=kind)
        rows = await listings.requests_page(first, decode_cursor("request", after), where)
        return page_of(rows, first, "request", ItemRequest.of, after=after)

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Requests whose current step you may decide now (head, deputy, escalated, role "
        "or fallback approver; never your own), oldest first.",
    )
    async def approval_queue(self, info: Info, first: int = 50, after: str | None = None) -> Connection[ItemRequest]:
        first = check_first(first)
        rows = await approvals.queue_page(info.context.rt, actor_of(info), first, decode_cursor("request", after))
        return page_of(rows, first, "request", ItemRequest.of, after=after)

    @strawberry.field(permission_classes=[IsItemReader], description="Item movements with filters, newest first.")
    async def item_movements(
        self,
        first: int = 50,
        after: str | None = None,
        item_id: strawberry.ID | None = None,
        asset_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
        kind: str | None = None,
        category: ItemCategory | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[ItemMovement]:
        first = check_first(first)
        rows = await items.movements(
            first,
            decode_cursor("mv", after),
            item_id=_key(item_id),
            asset_id=_key(asset_id),
            person_id=_key(person_id),
            department_id=_key(department_id),
            kind=kind,
            category=category,
            since=since,
            until=until,
        )
        return page_of(rows, first, "mv", ItemMovement.of, after=after)

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Assets issued or lent to the caller: those due back soonest first, then those without a date.",
    )
    async def my_assets(self, info: Info, first: int = 50, after: str | None = None) -> Connection[Asset]:
        first = check_first(first)
        rows = await listings.held_assets_page(actor_of(info).person_id, first, decode_cursor("asset", after))
        return page_of(rows, first, "asset", Asset.of, after=after)

    @strawberry.field(
        permission_classes=[IsItemReader], description="Lent assets past their return date, longest overdue first."
    )
    async def overdue_loans(self, first: int = 50, after: str | None = None) -> Connection[Asset]:
        first = check_first(first)
        rows = await listings.overdue_loans_page(first, decode_cursor("asset", after))
        return page_of(rows, first, "asset", Asset.of, after=after)

    @strawberry.field(permission_classes=[IsGateStaff], description="Item checks at the gates, newest first.")
    async def item_checks(
        self,
        first: int = 50,
        after: str | None = None,
        status: Annotated[str | None, strawberry.argument(description="OPEN, HELD, CLEARED or REFUSED.")] = None,
    ) -> Connection[ItemCheck]:
        first = check_first(first)
        rows = await listings.checks_page(first, decode_cursor("check", after), status)
        return page_of(rows, first, "check", ItemCheck.of, after=after)
