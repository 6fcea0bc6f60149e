"""Items and assets (POLICY 4, 2.4-2.5): catalogue, stock, workflows, movements, gate checks."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.core.models import AssetStatus, ItemCategory, RequestKind, RequestStatus
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.items import flows as item_flows
from resolvers.items import gate_checks as item_checks
from schema.core.context import Info, actor_of
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    ITEM_READERS,
    IsAuthenticated,
    IsCatalogueKeeper,
    IsEmployee,
    IsGateStaff,
    IsItemReader,
    IsWarehouse,
)
from schema.core.streams import messages_for
from schema.core.types import UserError


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    spec: str
    category: ItemCategory
    serialized: bool
    unit: str

    @classmethod
    def of(cls, row: m.Item) -> Item:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            spec=row.spec,
            category=row.category,
            serialized=row.serialized,
            unit=row.unit,
        )

    @strawberry.field(description="Units in stock over all locations (stock items), or assets in stock.")
    async def in_stock(self) -> int:
        if self.serialized:
            return await m.Asset.filter(item_id=int(self.id), status=AssetStatus.IN_STOCK).count()
        return await items.stock_of(int(self.id))


@strawberry.type
class Asset:
    id: strawberry.ID
    item_id: strawberry.ID
    status: AssetStatus
    holder_person_id: strawberry.ID | None
    due_back: datetime | None
    label_code: str

    @classmethod
    def of(cls, row: m.Asset, code: str) -> Asset:
        return cls(
            id=strawberry.ID(str(row.id)),
            item_id=strawberry.ID(str(row.item_id)),
            status=row.status,
            holder_person_id=strawberry.ID(str(row.holder_person_id)) if row.holder_person_id else None,
            due_back=row.due_back,
            label_code=code,
        )


@strawberry.type
class StockLocation:
    id: strawberry.ID
    name: str


@strawberry.type
class ItemRequest:
    id: strawberry.ID
    kind: RequestKind
    status: RequestStatus
    requester_id: strawberry.ID
    item_id: strawberry.ID | None
    quantity: int
    fulfilled_quantity: int
    details: JSON
    steps: JSON
    history: JSON
    created_at: datetime

    @classmethod
    def of(cls, row: m.ItemRequest) -> ItemRequest:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            status=row.status,
            requester_id=strawberry.ID(str(row.requester_id)),
            item_id=strawberry.ID(str(row.item_id)) if row.item_id else None,
            quantity=row.quantity,
            fulfilled_quantity=row.fulfilled_quantity,
            details=cast(JSON, row.details),
            steps=cast(JSON, row.steps),
            history=cast(JSON, row.history),
            created_at=row.created_at,
        )


@strawberry.type
class ItemMovement:
    id: strawberry.ID
    at: datetime
    kind: str
    item_id: strawberry.ID
    asset_id: strawberry.ID | None
    quantity: int
    person_id: strawberry.ID | None
    gate_id: strawberry.ID | None
    request_id: strawberry.ID | None
    notes: str

    @classmethod
    def of(cls, r: m.ItemMovement) -> ItemMovement:
        def sid(v: int | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(
            id=strawberry.ID(str(r.id)),
            at=r.at,
            kind=r.kind,
            item_id=strawberry.ID(str(r.item_id)),
            asset_id=sid(r.asset_id),
            quantity=r.quantity,
            person_id=sid(r.person_id),
            gate_id=sid(r.gate_id),
            request_id=sid(r.request_id),
            notes=r.notes,
        )


@strawberry.type
class ItemCheck:
    id: strawberry.ID
    person_id: strawberry.ID
    gate_id: strawberry.ID | None
    direction: str
    declared: JSON
    scanned: JSON
    problems: list[str]
    status: str = strawberry.field(description="OPEN, HELD (a guard must decide), CLEARED or REFUSED")

    @classmethod
    def of(cls, r: m.ItemCheck) -> ItemCheck:
        return cls(
            id=strawberry.ID(str(r.id)),
            person_id=strawberry.ID(str(r.person_id)),
            gate_id=strawberry.ID(str(r.gate_id)) if r.gate_id else None,
            direction=r.direction,
            declared=cast(JSON, r.declared),
            scanned=cast(JSON, r.scanned),
            problems=list(r.problems),
            status=r.status,
        )


@strawberry.input
class DeclaredItemInput:
    description: str
    quantity: int = 1
    label_code: str | None = None


@strawberry.input
class ReceiptInput:
    quantity: int
    location_id: strawberry.ID
    delivery_note: str
    spec_ok: bool
    quality_ok: bool
    notes: str | None = None
    category: ItemCategory | None = None
    serialized: bool = False


@strawberry.type
class ItemPayload:
    item: Item | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LocationPayload:
    location: StockLocation | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ItemRequestPayload:
    request: ItemRequest | None = None
    label_codes: list[str] = strawberry.field(
        default_factory=list, description="Labels to print for assets received now."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssetPayload:
    asset: Asset | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ItemCheckPayload:
    check: ItemCheck | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _request(row: m.ItemRequest | None) -> ItemRequest | None:
    return ItemRequest.of(row) if row else None


def _check(row: m.ItemCheck | None) -> ItemCheck | None:
    return ItemCheck.of(row) if row else None


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


@strawberry.type
class ItemMutation:
    @strawberry.mutation(permission_classes=[IsCatalogueKeeper])
    async def create_item(
        self,
        name: str,
        category: ItemCategory,
        serialized: bool = False,
        spec: str | None = None,
        unit: str | None = None,
        department_id: strawberry.ID | None = None,
    ) -> ItemPayload:
        row, errors = await attempt(items.create_item(name, spec, category, serialized, unit, department_id))
        return ItemPayload(item=Item.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsCatalogueKeeper])
    async def create_stock_location(self, name: str, zone_id: strawberry.ID | None = None) -> LocationPayload:
        row, errors = await attempt(items.create_location(name, zone_id))
        return LocationPayload(
            location=StockLocation(id=strawberry.ID(str(row.id)), name=row.name) if row else None, errors=errors
        )

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def request_purchase(
        self,
        info: Info,
        name: str,
        quantity: int,
        budget: float,
        spec: str = "",
        needed_by: datetime | None = None,
        item_id: strawberry.ID | None = None,
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_purchase(
                info.context.rt, actor_of(info), name, spec, quantity, budget, needed_by, item_id
            )
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def request_requisition(
        self, info: Info, item_id: strawberry.ID, quantity: int, purpose: str, needed_by: datetime | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_requisition(info.context.rt, actor_of(info), item_id, quantity, purpose, needed_by)
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def request_borrow(
        self,
        info: Info,
        item_id: strawberry.ID,
        quantity: int,
        owner_department_id: strawberry.ID,
        due_back: datetime,
        purpose: str,
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_borrow(
                info.context.rt, actor_of(info), item_id, quantity, owner_department_id, due_back, purpose
            )
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def request_scrap(self, info: Info, label_code: str, reason: str) -> ItemRequestPayload:
        row, errors = await attempt(item_flows.request_scrap(info.context.rt, actor_of(info), label_code, reason))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee], description="Decide the current step if it is yours.")
    async def approve_item_request(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(approvals.decide(info.context.rt, actor_of(info), id, True, comment))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def reject_item_request(self, info: Info, id: strawberry.ID, comment: str) -> ItemRequestPayload:
        row, errors = await attempt(approvals.decide(info.context.rt, actor_of(info), id, False, comment))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def resubmit_item_request(
        self, info: Info, id: strawberry.ID, quantity: int | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(approvals.resubmit(info.context.rt, actor_of(info), id, quantity, None))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsWarehouse],
        description="Goods arrive against an approved purchase (partial receipts allowed).",
    )
    async def receive_purchase(
        self, info: Info, request_id: strawberry.ID, receipt: ReceiptInput
    ) -> ItemRequestPayload:
        data = item_flows.Receipt(
            receipt.quantity,
            receipt.location_id,
            receipt.delivery_note,
            receipt.spec_ok,
            receipt.quality_ok,
            receipt.notes,
            receipt.category,
            receipt.serialized,
        )
        result, errors = await attempt(item_flows.receive(info.context.rt, actor_of(info), request_id, data))
        if result is None:
            return ItemRequestPayload(errors=errors)
        return ItemRequestPayload(request=ItemRequest.of(result[0]), label_codes=result[1])

    @strawberry.mutation(permission_classes=[IsWarehouse])
    async def issue_requisition(
        self, info: Info, request_id: strawberry.ID, location_id: strawberry.ID, label_codes: list[str] | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.issue(info.context.rt, actor_of(info), request_id, location_id, label_codes or [])
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsWarehouse])
    async def lend_items(self, info: Info, request_id: strawberry.ID, label_codes: list[str]) -> ItemRequestPayload:
        row, errors = await attempt(item_flows.lend(info.context.rt, actor_of(info), request_id, label_codes))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsWarehouse], description="FINE or DAMAGED, after inspection.")
    async def return_lent_item(
        self, info: Info, label_code: str, condition: str, location_id: strawberry.ID, notes: str | None = None
    ) -> AssetPayload:
        row, errors = await attempt(
            item_flows.return_lent(info.context.rt, actor_of(info), label_code, condition, notes, location_id)
        )
        rt = info.context.rt
        return AssetPayload(asset=Asset.of(row, items.label_code(rt, "A", row.id)) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsCatalogueKeeper], description="SALE, RECYCLING or DONATION.")
    async def dispose_asset(
        self, info: Info, request_id: strawberry.ID, label_code: str, method: str, notes: str | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.dispose(info.context.rt, actor_of(info), request_id, label_code, method, notes)
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="What a person carries through a gate; a guard may declare for someone.",
    )
    async def declare_items(
        self,
        info: Info,
        gate_id: strawberry.ID,
        direction: str,
        items: list[DeclaredItemInput],
        person_id: strawberry.ID | None = None,
    ) -> ItemCheckPayload:
        lines = [{"description": i.description, "quantity": i.quantity, "labelCode": i.label_code} for i in items]
        row, errors = await attempt(
            item_checks.declare(info.context.rt, actor_of(info), person_id, gate_id, direction, lines)
        )
        return ItemCheckPayload(check=_check(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="Compare declared with scanned; clear or hold.")
    async def complete_item_check(self, info: Info, id: strawberry.ID) -> ItemCheckPayload:
        row, errors = await attempt(item_checks.complete(info.context.rt, actor_of(info), id))
        return ItemCheckPayload(check=_check(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="A guard's call on a held item check.")
    async def decide_item_check(
        self, info: Info, id: strawberry.ID, allow: bool, note: str | None = None
    ) -> ItemCheckPayload:
        row, errors = await attempt(item_checks.decide(info.context.rt, actor_of(info), id, allow, note))
        return ItemCheckPayload(check=_check(row), errors=errors)


@strawberry.type
class ItemSubscription:
    @strawberry.subscription(
        permission_classes=[IsEmployee], description="Requests reaching a step the caller may decide, as they arrive."
    )
    async def approval_queue_updates(self, info: Info) -> AsyncGenerator[ItemRequest, None]:
        from schema.core.streams import still_allowed

        actor = actor_of(info)
        last_check = [time.monotonic()]
        async with info.context.rt.bus.subscribe(approvals.CHANNEL) as sub:
            async for message in sub:
                step = message.get("step")
                if step is None or not await approvals.may_act(actor, step):
                    continue
                await still_allowed(info, last_check)
                row = await m.ItemRequest.get_or_none(id=message["requestId"])
                if row is not None and row.requester_id != actor.person_id:
                    yield ItemRequest.of(row)

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the caller's borrowed assets past their return date.",
    )
    async def loan_reminders(self, info: Info) -> AsyncGenerator[Asset, None]:
        person = actor_of(info).person_id
        async for message in messages_for(info, item_flows.REMINDERS, lambda msg: msg.get("personId") == person):
            row = await m.Asset.get_or_none(id=message["assetId"])
            if row is not None:
                yield Asset.of(row, items.label_code(info.context.rt, "A", row.id))

    @strawberry.subscription(permission_classes=[IsGateStaff], description="Declared versus scanned, live.")
    async def item_check_updates(
        self, info: Info, gate_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ItemCheck, None]:
        def at_gate(message: dict[str, object]) -> bool:
            return gate_id is None or str(message.get("gateId")) == gate_id

        async for message in messages_for(info, item_checks.CHANNEL, at_gate):
            row = await m.ItemCheck.get_or_none(id=message["checkId"])
            if row is not None:
                yield ItemCheck.of(row)
