"""Root query fields: items."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.core.models import AssetStatus, ItemCategory, RequestKind, RequestStatus
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.items import flows as item_flows
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


@strawberry.type
class ItemQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The item catalogue.")
    async def items(self, category: ItemCategory | None = None) -> list[Item]:
        query = m.Item.all() if category is None else m.Item.filter(category=category)
        return [Item.of(r) for r in await query.order_by("name")]

    @strawberry.field(permission_classes=[IsItemReader])
    async def assets(
        self,
        info: Info,
        item_id: strawberry.ID | None = None,
        status: AssetStatus | None = None,
        holder_id: strawberry.ID | None = None,
    ) -> list[Asset]:
        query = m.Asset.all()
        if item_id is not None:
            query = query.filter(item_id=int(item_id) if is_id(item_id) else -1)
        if status is not None:
            query = query.filter(status=status)
        if holder_id is not None:
            query = query.filter(holder_person_id=int(holder_id) if is_id(holder_id) else -1)
        rt = info.context.rt
        return [Asset.of(r, items.label_code(rt, "A", r.id)) for r in await query.order_by("id").limit(1000)]

    @strawberry.field(permission_classes=[IsItemReader])
    async def stock_locations(self) -> list[StockLocation]:
        return [StockLocation(id=strawberry.ID(str(r.id)), name=r.name) for r in await m.StockLocation.all()]

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Requests: your own, or all of them for warehouse, procurement and oversight roles.",
    )
    async def item_requests(
        self, info: Info, status: RequestStatus | None = None, kind: RequestKind | None = None
    ) -> list[ItemRequest]:
        actor = actor_of(info)
        query = m.ItemRequest.all()
        if not actor.has_any(*ITEM_READERS):
            query = query.filter(requester_id=actor.person_id)
        if status is not None:
            query = query.filter(status=status)
        if kind is not None:
            query = query.filter(kind=kind)
        return [ItemRequest.of(r) for r in await query.order_by("-id").limit(500)]

    @strawberry.field(permission_classes=[IsEmployee], description="Requests whose current step is yours.")
    async def approval_queue(self, info: Info) -> list[ItemRequest]:
        return [ItemRequest.of(r) for r in await approvals.queue(actor_of(info))]

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

        def num(v: strawberry.ID | None) -> int | None:
            return (int(v) if is_id(v) else -1) if v is not None else None

        rows = await items.movements(
            first,
            decode_cursor("mv", after),
            item_id=num(item_id),
            asset_id=num(asset_id),
            person_id=num(person_id),
            department_id=num(department_id),
            kind=kind,
            category=category,
            since=since,
            until=until,
        )
        return page_of(rows, first, "mv", ItemMovement.of)

    @strawberry.field(permission_classes=[IsEmployee], description="Assets issued or lent to the caller.")
    async def my_assets(self, info: Info) -> list[Asset]:
        rt = info.context.rt
        rows = await m.Asset.filter(holder_person_id=actor_of(info).person_id).order_by("due_back", "id")
        return [Asset.of(r, items.label_code(rt, "A", r.id)) for r in rows]

    @strawberry.field(permission_classes=[IsItemReader], description="Lent assets past their return date.")
    async def overdue_loans(self, info: Info) -> list[Asset]:
        rt = info.context.rt
        return [Asset.of(r, items.label_code(rt, "A", r.id)) for r in await item_flows.overdue_loans()]

    @strawberry.field(permission_classes=[IsGateStaff])
    async def item_checks(self, status: str | None = None) -> list[ItemCheck]:
        query = m.ItemCheck.all() if status is None else m.ItemCheck.filter(status=status)
        return [ItemCheck.of(r) for r in await query.order_by("-id").limit(200)]
