"""Stocktakes (README "Stocktakes"): types, the queries and the mutations, thin over
resolvers/items/stocktakes.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.core import models as m
from resolvers.core.models import StocktakeStatus, VarianceKind
from resolvers.items import stocktakes
from schema.core.context import Info, actor_of
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import UserError, attempt
from schema.core.permissions import IsItemReader, IsStocktaker
from schema.items.types import Asset, Item, ItemRequest, ItemRequestPayload, StockLocation, _item, _location
from schema.people.types import Person

# Registered as schema/core/enums.py registers the others: the class stays the domain's.
strawberry.enum(StocktakeStatus, description="Where a stocktake stands: OPEN, COUNTED (variances found), CLOSED.")
strawberry.enum(VarianceKind, description="What a stocktake found different from the records.")


@strawberry.type(description="A difference a closed stocktake found between the count and the records.")
class StocktakeVariance:
    id: strawberry.ID = strawberry.field(description="Opaque id; named in requestStocktakeAdjustment.")
    kind: VarianceKind = strawberry.field(
        description="MISSING (expected, not scanned), UNEXPECTED (scanned, not expected here), WRONG_PLACE "
        "(scanned at another location of the count than recorded), QUANTITY (counted stock differs)."
    )
    expected: int = strawberry.field(description="What the records said at the opening (an asset: 1 or 0).")
    counted: int = strawberry.field(description="What the count found.")
    adjusted_at: datetime | None = strawberry.field(description="When an approved adjustment corrected it.")
    item_id_: strawberry.Private[int]
    asset_id_: strawberry.Private[int | None]
    location_id_: strawberry.Private[int | None]
    recorded_location_id_: strawberry.Private[int | None]
    request_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.StocktakeVariance) -> StocktakeVariance:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            expected=row.expected,
            counted=row.counted,
            adjusted_at=row.adjusted_at,
            item_id_=row.item_id,
            asset_id_=row.asset_id,
            location_id_=row.location_id,
            recorded_location_id_=row.recorded_location_id,
            request_id_=row.request_id,
        )

    @strawberry.field(description="Counted less expected (negative: fewer found).")
    def difference(self) -> int:
        return self.counted - self.expected

    @strawberry.field(description="The item.")
    async def item(self, info: Info) -> Item | None:
        return await _item(info, self.item_id_)

    @strawberry.field(description="The labelled asset; null for counted stock.")
    async def asset(self, info: Info) -> Asset | None:
        if self.asset_id_ is None:
            return None
        from resolvers.items import batches

        row = await info.context.loaders.of(batches.assets_by_id).load(self.asset_id_)
        return Asset.of(row) if row else None

    @strawberry.field(description="Where the count saw it (MISSING: where it was expected).")
    async def location(self, info: Info) -> StockLocation | None:
        return await _location(info, self.location_id_)

    @strawberry.field(description="Where the records had it; null for an asset out of stock.")
    async def recorded_location(self, info: Info) -> StockLocation | None:
        return await _location(info, self.recorded_location_id_)

    @strawberry.field(description="The adjustment request that names it, if any.")
    async def request(self, info: Info) -> ItemRequest | None:
        if self.request_id_ is None:
            return None
        from resolvers.items import batches

        row = await info.context.loaders.of(batches.requests_by_id).load(self.request_id_)
        return ItemRequest.of(row) if row else None


@strawberry.type(description="A count of one stock location or of all, against the records.")
class Stocktake:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    status: StocktakeStatus = strawberry.field(
        description="OPEN (counting), COUNTED (variances found), CLOSED (none left to adjust)."
    )
    opened_at: datetime = strawberry.field(description="When the count began (the records' snapshot).")
    counted_at: datetime | None = strawberry.field(description="When the count ended.")
    closed_at: datetime | None = strawberry.field(description="When no variance was left to adjust.")
    location_id_: strawberry.Private[int | None]
    opened_by_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: m.Stocktake) -> Stocktake:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            opened_at=row.opened_at,
            counted_at=row.counted_at,
            closed_at=row.closed_at,
            location_id_=row.location_id,
            opened_by_id_=row.opened_by_id,
        )

    @strawberry.field(description="The location counted; null when every location is.")
    async def location(self, info: Info) -> StockLocation | None:
        return await _location(info, self.location_id_)

    @strawberry.field(description="Who opened it.")
    async def opened_by(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.opened_by_id_)
        return Person.of(row) if row else None

    @strawberry.field(description="How many labels were scanned so far (each once).")
    async def scanned(self) -> int:
        return await m.StocktakeScan.filter(stocktake_id=int(self.id)).count()

    @strawberry.field(description="The variances found at the close; empty while counting.")
    async def variances(self) -> list[StocktakeVariance]:
        return [StocktakeVariance.of(v) for v in await stocktakes.variances(int(self.id))]


@strawberry.type(description="The result of a step of a stocktake.")
class StocktakePayload:
    stocktake: Stocktake | None = strawberry.field(default=None, description="The stocktake; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of a label scanned into a stocktake.")
class StocktakeScanPayload:
    counted: bool = strawberry.field(
        default=False, description="True when this label counted now; false when it counted before (or on errors)."
    )
    # The phone app says which asset a label was (its item's name), so the person sees the right
    # thing was counted without a second request.
    asset: Asset | None = strawberry.field(
        default=None, description="The asset the label names (counted now or before); null on errors."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of releasing a handheld from a stocktake.")
class StocktakeReleasePayload:
    released: bool = strawberry.field(
        default=False, description="True when the device was counting for a stocktake until now."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type
class StocktakeQuery:
    @strawberry.field(permission_classes=[IsItemReader], description="One stocktake and its variance report.")
    async def stocktake(self, id: strawberry.ID) -> Stocktake | None:
        row = await m.Stocktake.get_or_none(id=int(id)) if id.isascii() and id.isdigit() and len(id) <= 18 else None
        return Stocktake.of(row) if row else None

    @strawberry.field(permission_classes=[IsItemReader], description="Stocktakes, newest first.")
    async def stocktakes(
        self, first: int = 50, after: str | None = None, status: StocktakeStatus | None = None
    ) -> Connection[Stocktake]:
        first = check_first(first)
        rows = await stocktakes.list_stocktakes(first, decode_cursor("stocktake", after), status)
        return page_of(rows, first, "stocktake", Stocktake.of, after=after)


@strawberry.type
class StocktakeMutation:
    @strawberry.mutation(
        permission_classes=[IsStocktaker],
        description="Begin a count of one location (locationId) or of all (no locationId): the records "
        "are read now, as what the count is compared with.",
    )
    async def open_stocktake(self, info: Info, location_id: strawberry.ID | None = None) -> StocktakePayload:
        row, errors = await attempt(stocktakes.open_stocktake(actor_of(info), location_id))
        return StocktakePayload(stocktake=Stocktake.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsStocktaker],
        description="A label read by the phone app at a location of the count; the same label counts once.",
    )
    async def record_stocktake_scan(
        self,
        info: Info,
        stocktake_id: strawberry.ID,
        label: Annotated[str, strawberry.argument(description="The label's text as the camera read it.")],
        location_id: strawberry.ID,
    ) -> StocktakeScanPayload:
        row, errors = await attempt(
            stocktakes.record_scan(info.context.rt, actor_of(info), stocktake_id, label, location_id)
        )
        asset = await m.Asset.get_or_none(id=row.scan.asset_id) if row else None
        return StocktakeScanPayload(
            counted=bool(row and row.first), asset=Asset.of(asset) if asset else None, errors=errors
        )

    @strawberry.mutation(
        permission_classes=[IsStocktaker],
        description="Unlabelled stock counted at a location (counting the line again replaces the figure).",
    )
    async def record_stocktake_count(
        self, info: Info, stocktake_id: strawberry.ID, item_id: strawberry.ID, location_id: strawberry.ID, quantity: int
    ) -> StocktakePayload:
        row, errors = await attempt(
            stocktakes.record_count(actor_of(info), stocktake_id, item_id, location_id, quantity)
        )
        found = await m.Stocktake.get_or_none(id=row.stocktake_id) if row else None
        return StocktakePayload(stocktake=Stocktake.of(found) if found else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsStocktaker],
        description="A warehouse handheld counts for this stocktake at this location: its label scans "
        "count here (answered stocktake_counted / stocktake_counted_before / stocktake_bad_label) until "
        "released or the count ends.",
    )
    async def assign_stocktake_device(
        self, info: Info, stocktake_id: strawberry.ID, device_id: strawberry.ID, location_id: strawberry.ID
    ) -> StocktakePayload:
        row, errors = await attempt(stocktakes.assign_device(actor_of(info), stocktake_id, device_id, location_id))
        found = await m.Stocktake.get_or_none(id=row.stocktake_id) if row else None
        return StocktakePayload(stocktake=Stocktake.of(found) if found else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsStocktaker], description="The handheld's scans are gate scans again.")
    async def release_stocktake_device(self, device_id: strawberry.ID) -> StocktakeReleasePayload:
        released, errors = await attempt(stocktakes.release_device(device_id))
        return StocktakeReleasePayload(released=bool(released), errors=errors)

    @strawberry.mutation(permission_classes=[IsStocktaker], description="End the count: the variances are found now.")
    async def close_stocktake(self, info: Info, id: strawberry.ID) -> StocktakePayload:
        row, errors = await attempt(stocktakes.close_stocktake(actor_of(info), id))
        return StocktakePayload(stocktake=Stocktake.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsStocktaker],
        description="Ask to correct the records for these variances: the head of your department, then "
        "asset management, approve; the last approval makes each correction with a movement.",
    )
    async def request_stocktake_adjustment(
        self, info: Info, stocktake_id: strawberry.ID, variance_ids: list[strawberry.ID], reason: str
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            stocktakes.request_adjustment(
                info.context.rt, actor_of(info), stocktake_id, [str(v) for v in variance_ids], reason
            )
        )
        return ItemRequestPayload(request=ItemRequest.of(row) if row else None, errors=errors)
