"""GraphQL object types and mutation payloads: items."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers.core import models as m
from resolvers.core.models import AssetStatus, ItemCategory, RequestKind, RequestStatus
from resolvers.items import catalogue as items
from schema.core.payloads import UserError


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
