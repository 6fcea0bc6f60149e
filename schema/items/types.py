"""GraphQL object types and mutation payloads: items.

Relations (an asset's item, a request's requester, a movement's gate...) are read through
the request's DataLoaders, so a list costs a few queries whatever its length.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers.core import models as m
from resolvers.core.models import AssetStatus, ItemCategory, RequestKind, RequestStatus
from resolvers.items import approvals, batches, catalogue
from schema.access.types import Gate, Zone
from schema.core.context import Info
from schema.core.payloads import UserError
from schema.people.types import Approvers, Department, Person


async def _person(info: Info, person_id: int | None) -> Person | None:
    row = await info.context.loaders.person.load(person_id) if person_id is not None else None
    return Person.of(row) if row else None


async def _department(info: Info, department_id: int | None) -> Department | None:
    row = await info.context.loaders.department.load(department_id) if department_id is not None else None
    return Department.of(row) if row else None


async def _item(info: Info, item_id: int | None) -> Item | None:
    row = await info.context.loaders.of(batches.items_by_id).load(item_id) if item_id is not None else None
    return Item.of(row) if row else None


async def _location(info: Info, location_id: int | None) -> StockLocation | None:
    row = await info.context.loaders.of(batches.locations_by_id).load(location_id) if location_id is not None else None
    return StockLocation.of(row) if row else None


@strawberry.type(description="A kind of thing in the catalogue: labelled assets one by one, or stock counted.")
class Item:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    name: str = strawberry.field(description="The item's name.")
    spec: str = strawberry.field(description="Its specification (model, size...), may be empty.")
    category: ItemCategory = strawberry.field(description="What the item is for.")
    serialized: bool = strawberry.field(description="True: each unit is an Asset with its own label.")
    unit: str = strawberry.field(description="How stock is counted (pcs, box...).")
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.Item) -> Item:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            spec=row.spec,
            category=row.category,
            serialized=row.serialized,
            unit=row.unit,
            department_id_=row.department_id,
        )

    @strawberry.field(description="Units in stock over all locations (stock items), or assets in stock.")
    async def in_stock(self, info: Info) -> int:
        return await info.context.loaders.of(batches.in_stock).load((int(self.id), self.serialized))

    @strawberry.field(description="The department the item belongs to, if any.")
    async def department(self, info: Info) -> Department | None:
        return await _department(info, self.department_id_)


@strawberry.type(description="One labelled unit of a serialized item.")
class Asset:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    status: AssetStatus = strawberry.field(description="In stock, issued, lent, waiting for scrapping, or gone.")
    due_back: datetime | None = strawberry.field(description="When a lent asset must be back; null otherwise.")
    item_id_: strawberry.Private[int]
    location_id_: strawberry.Private[int | None]
    holder_person_id_: strawberry.Private[int | None]
    holder_department_id_: strawberry.Private[int | None]
    owner_department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.Asset) -> Asset:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            due_back=row.due_back,
            item_id_=row.item_id,
            location_id_=row.location_id,
            holder_person_id_=row.holder_person_id,
            holder_department_id_=row.holder_department_id,
            owner_department_id_=row.owner_department_id,
        )

    @strawberry.field(description="The signed code its printed label carries.")
    def label_code(self, info: Info) -> str:
        return catalogue.label_code(info.context.rt, "A", int(self.id))

    @strawberry.field(description="What the asset is.")
    async def item(self, info: Info) -> Item | None:
        return await _item(info, self.item_id_)

    @strawberry.field(description="Where it is kept while in stock; null when out.")
    async def location(self, info: Info) -> StockLocation | None:
        return await _location(info, self.location_id_)

    @strawberry.field(description="Who has it (issued or lent); null while in stock.")
    async def holder(self, info: Info) -> Person | None:
        return await _person(info, self.holder_person_id_)

    @strawberry.field(description="The department of the person who has it.")
    async def holder_department(self, info: Info) -> Department | None:
        return await _department(info, self.holder_department_id_)

    @strawberry.field(description="The department that owns it and lends it out, if any.")
    async def owner_department(self, info: Info) -> Department | None:
        return await _department(info, self.owner_department_id_)


@strawberry.type(description="A place where stock and assets are kept.")
class StockLocation:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    name: str = strawberry.field(description="The location's unique name.")
    zone_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.StockLocation) -> StockLocation:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, zone_id_=row.zone_id)

    @strawberry.field(description="The zone the location is in, if it was given.")
    async def zone(self, info: Info) -> Zone | None:
        row = await info.context.loaders.zone.load(self.zone_id_) if self.zone_id_ is not None else None
        return Zone.of(row) if row else None


@strawberry.type(description="One purchase, requisition, borrowing or scrapping, and its approval steps.")
class ItemRequest:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    kind: RequestKind = strawberry.field(description="Which workflow the request follows.")
    status: RequestStatus = strawberry.field(description="Pending its steps, approved, rejected, fulfilled...")
    quantity: int = strawberry.field(description="How many were asked for.")
    fulfilled_quantity: int = strawberry.field(description="How many were received or issued so far.")
    details: JSON = strawberry.field(description="What the workflow needs (budget, purpose, due date...).")
    steps: JSON = strawberry.field(description="The approval steps: who decides, and what each decided.")
    history: JSON = strawberry.field(description="Everything done to the request, oldest first.")
    created_at: datetime = strawberry.field(description="When the request was made.")
    requester_id_: strawberry.Private[int]
    item_id_: strawberry.Private[int | None]
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.ItemRequest) -> ItemRequest:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            status=row.status,
            quantity=row.quantity,
            fulfilled_quantity=row.fulfilled_quantity,
            details=cast(JSON, row.details),
            steps=cast(JSON, row.steps),
            history=cast(JSON, row.history),
            created_at=row.created_at,
            requester_id_=row.requester_id,
            item_id_=row.item_id,
            department_id_=row.department_id,
        )

    @strawberry.field(description="Who asked.")
    async def requester(self, info: Info) -> Person | None:
        return await _person(info, self.requester_id_)

    @strawberry.field(description="The catalogue item; null for a purchase of something new until it is received.")
    async def item(self, info: Info) -> Item | None:
        return await _item(info, self.item_id_)

    @strawberry.field(description="The requester's department when they asked.")
    async def department(self, info: Info) -> Department | None:
        return await _department(info, self.department_id_)

    @strawberry.field(
        description="Who may decide the current step now (head, deputy, the level it escalated to, a role, "
        "the fallback); null once nothing waits."
    )
    async def waiting_for(self, info: Info) -> Approvers | None:
        if self.status is not RequestStatus.PENDING:
            return None
        key = (int(self.id), info.context.rt.settings.approval_fallback_roles)
        level = await info.context.loaders.of(approvals.deciders_by_request).load(key)
        if level is None:
            return None
        return Approvers(
            label=level.label,
            roles=sorted(level.roles, key=lambda r: r.value),
            department_id_=level.department_id,
            people_ids_=sorted(level.people),
        )


@strawberry.type(description="One step an item took (received, issued, lent, through a gate...): the audit trail.")
class ItemMovement:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    at: datetime = strawberry.field(description="When it happened.")
    kind: str = strawberry.field(
        description="RECEIVE, ISSUE, LEND, RETURN, DISPOSE, GATE_IN, GATE_OUT or OVERDUE_REMINDER."
    )
    quantity: int = strawberry.field(description="How many units moved.")
    notes: str = strawberry.field(description="Free text (a delivery note, a condition...).")
    item_id_: strawberry.Private[int]
    asset_id_: strawberry.Private[int | None]
    location_id_: strawberry.Private[int | None]
    person_id_: strawberry.Private[int | None]
    department_id_: strawberry.Private[int | None]
    request_id_: strawberry.Private[int | None]
    gate_id_: strawberry.Private[int | None]
    by_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, r: m.ItemMovement) -> ItemMovement:
        return cls(
            id=strawberry.ID(str(r.id)),
            at=r.at,
            kind=r.kind,
            quantity=r.quantity,
            notes=r.notes,
            item_id_=r.item_id,
            asset_id_=r.asset_id,
            location_id_=r.location_id,
            person_id_=r.person_id,
            department_id_=r.department_id,
            request_id_=r.request_id,
            gate_id_=r.gate_id,
            by_id_=r.by_id,
        )

    @strawberry.field(description="The item that moved.")
    async def item(self, info: Info) -> Item | None:
        return await _item(info, self.item_id_)

    @strawberry.field(description="The labelled asset that moved; null for stock.")
    async def asset(self, info: Info) -> Asset | None:
        if self.asset_id_ is None:
            return None
        row = await info.context.loaders.of(batches.assets_by_id).load(self.asset_id_)
        return Asset.of(row) if row else None

    @strawberry.field(description="The stock location it left or reached, if any.")
    async def location(self, info: Info) -> StockLocation | None:
        return await _location(info, self.location_id_)

    @strawberry.field(description="The person it went to or came from, if any.")
    async def person(self, info: Info) -> Person | None:
        return await _person(info, self.person_id_)

    @strawberry.field(description="That person's department, if any.")
    async def department(self, info: Info) -> Department | None:
        return await _department(info, self.department_id_)

    @strawberry.field(description="The request it fulfilled, if any.")
    async def request(self, info: Info) -> ItemRequest | None:
        if self.request_id_ is None:
            return None
        row = await info.context.loaders.of(batches.requests_by_id).load(self.request_id_)
        return ItemRequest.of(row) if row else None

    @strawberry.field(description="The gate it passed, if any.")
    async def gate(self, info: Info) -> Gate | None:
        row = await info.context.loaders.gate.load(self.gate_id_) if self.gate_id_ is not None else None
        return Gate.of(row) if row else None

    @strawberry.field(description="Who recorded it (the warehouse clerk, the guard); null for the system.")
    async def performed_by(self, info: Info) -> Person | None:
        return await _person(info, self.by_id_)


@strawberry.type(description="A person carrying items through a gate: what they declared, what the labels said.")
class ItemCheck:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    direction: str = strawberry.field(description="IN or OUT.")
    declared: JSON = strawberry.field(description="What the person declared: description, quantity, labelCode.")
    scanned: JSON = strawberry.field(description="What the gate's scanner read from the labels.")
    problems: list[str] = strawberry.field(description="Why the check is held (empty when all matched).")
    status: str = strawberry.field(description="OPEN, HELD (a guard must decide), CLEARED or REFUSED")
    person_id_: strawberry.Private[int | None]
    gate_id_: strawberry.Private[int | None]
    decided_by_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, r: m.ItemCheck) -> ItemCheck:
        return cls(
            id=strawberry.ID(str(r.id)),
            direction=r.direction,
            declared=cast(JSON, r.declared),
            scanned=cast(JSON, r.scanned),
            problems=list(r.problems),
            status=r.status,
            person_id_=r.person_id,
            gate_id_=r.gate_id,
            decided_by_id_=r.decided_by_id,
        )

    @strawberry.field(description="Who carries the items; null when no pass at the gate named the carrier.")
    async def person(self, info: Info) -> Person | None:
        return await _person(info, self.person_id_)

    @strawberry.field(description="The gate of the check.")
    async def gate(self, info: Info) -> Gate | None:
        row = await info.context.loaders.gate.load(self.gate_id_) if self.gate_id_ is not None else None
        return Gate.of(row) if row else None

    @strawberry.field(description="The guard who cleared or refused a held check; null otherwise.")
    async def decided_by(self, info: Info) -> Person | None:
        return await _person(info, self.decided_by_id_)


@strawberry.type(description="The result of a change to the catalogue.")
class ItemPayload:
    item: Item | None = strawberry.field(default=None, description="The item; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of creating a stock location.")
class LocationPayload:
    location: StockLocation | None = strawberry.field(default=None, description="The location; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of a step of an item request.")
class ItemRequestPayload:
    request: ItemRequest | None = strawberry.field(
        default=None, description="The request after the step; null on errors."
    )
    label_codes: list[str] = strawberry.field(
        default_factory=list, description="Labels to print for assets received now."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of a change to an asset.")
class AssetPayload:
    asset: Asset | None = strawberry.field(default=None, description="The asset after the change; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of a step of an item check.")
class ItemCheckPayload:
    check: ItemCheck | None = strawberry.field(default=None, description="The check after the step; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


def _request(row: m.ItemRequest | None) -> ItemRequest | None:
    return ItemRequest.of(row) if row else None


def _check(row: m.ItemCheck | None) -> ItemCheck | None:
    return ItemCheck.of(row) if row else None
