"""Stocktakes (POLICY 7.2 stock accuracy, 4): count one location or all against the records.

Opening takes a snapshot of what the records expect: the labelled assets in stock at each
location of the scope and the counted stock levels. Labels are then scanned (by the phone app
or by a warehouse handheld assigned to the stocktake, over the device channel; a label scanned
twice counts once) and unlabelled stock is counted. Closing compares the two:

- MISSING: an asset expected in the scope and not scanned;
- UNEXPECTED: an asset scanned that the scope did not expect (recorded elsewhere, out of stock,
  or missing already);
- WRONG_PLACE: an asset expected in the scope, scanned at another of its locations;
- QUANTITY: a stock level counted other than expected (a line expected and not counted at all
  counts as zero: nothing found is what the count says).

Adjusting the records goes through the one approval engine (a STOCKTAKE request: the head of
the requester's department, then the asset manager); once approved, each variance is corrected
with a movement, as every other change of stock is (resolvers/items/flows.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import (
    Asset,
    AssetStatus,
    Device,
    ItemRequest,
    RequestKind,
    RequestStatus,
    StockLevel,
    Stocktake,
    StocktakeCount,
    StocktakeDevice,
    StocktakeScan,
    StocktakeStatus,
    StocktakeVariance,
    VarianceKind,
)
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.people import audit
from resolvers.runtime import Runtime

MAX_QUANTITY = 10_000_000


async def get_stocktake(stocktake_id: str | int, field: str = "stocktakeId") -> Stocktake:
    row = await Stocktake.get_or_none(id=parse_id(stocktake_id, "stocktake", field))
    if row is None:
        raise not_found("stocktake", field)
    return row


def _open(stocktake: Stocktake) -> None:
    if stocktake.status is not StocktakeStatus.OPEN:
        raise UserError(
            ErrorCode.NOT_ALLOWED, f"this stocktake is {stocktake.status.value}; nothing more is counted", "stocktakeId"
        )


async def _still_open(stocktake_id: int) -> None:
    """Inside the transaction that records a scan or a count: the stocktake's row is locked
    (PostgreSQL; SQLite's writer lock does the same), so a close waits for the scan to commit and
    its variances include it, or the scan sees the close and is refused."""
    if await Stocktake.filter(id=stocktake_id, status=StocktakeStatus.OPEN).select_for_update().first() is None:
        raise UserError(
            ErrorCode.NOT_ALLOWED, "this stocktake was closed just now; nothing more is counted", "stocktakeId"
        )


async def _scope_location(stocktake: Stocktake, location_id: str | int) -> int:
    location = await items.get_location(location_id)
    if stocktake.location_id is not None and location.id != stocktake.location_id:
        raise UserError(ErrorCode.INVALID, "this location is not the one this stocktake counts", "locationId")
    return location.id


# --- opening -----------------------------------------------------------------------------------


async def open_stocktake(actor: Actor, location_id: str | None) -> Stocktake:
    """A count of one location, or of all when `location_id` is None."""
    location = await items.get_location(location_id) if location_id is not None else None
    async with in_transaction():
        # (Queries are built inside the transaction: built outside, SQLite's would wait on its lock.)
        assets = Asset.filter(status=AssetStatus.IN_STOCK, location_id__not_isnull=True)
        stock = StockLevel.all()
        if location is not None:
            assets = assets.filter(location_id=location.id)
            stock = stock.filter(location_id=location.id)
        # One open count per scope: two at once would each see the other's scans as nothing.
        clash = Stocktake.filter(status=StocktakeStatus.OPEN)
        if location is not None:
            clash = clash.filter(Q(location_id=location.id) | Q(location_id__isnull=True))
        if await clash.exists():
            raise UserError(ErrorCode.CONFLICT, "a stocktake of this location is open already", "locationId")
        expected = {
            "assets": [list(r) for r in await assets.order_by("id").values_list("id", "item_id", "location_id")],
            "stock": [
                list(r)
                for r in await stock.order_by("item_id", "location_id").values_list(
                    "item_id", "location_id", "quantity"
                )
            ],
        }
        row = await Stocktake.create(
            location_id=location.id if location else None,
            opened_by_id=actor.person_id,
            opened_at=clock.now(),
            expected=expected,
        )
    audit.note_change(
        "stocktake",
        row.id,
        None,
        {
            "location": location.id if location else "all",
            "assets": len(expected["assets"]),
            "stock": len(expected["stock"]),
        },
    )
    return row


# --- counting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    scan: StocktakeScan
    first: bool  # False: this label was scanned before in this stocktake (it counts once)


async def _record_scan(
    stocktake: Stocktake, asset: Asset, location_id: int, person_id: int | None, device_id: int | None
) -> Counted:
    try:
        async with in_transaction():
            await _still_open(stocktake.id)
            scan = await StocktakeScan.create(
                stocktake_id=stocktake.id,
                asset_id=asset.id,
                location_id=location_id,
                by_person_id=person_id,
                by_device_id=device_id,
                at=clock.now(),
            )
        return Counted(scan, True)
    except IntegrityError:
        return Counted(await StocktakeScan.get(stocktake_id=stocktake.id, asset_id=asset.id), False)


async def _asset_of_label(rt: Runtime, code: str) -> Asset:
    label = items.read_label(rt, code)
    if label is not None and label.kind == "I":
        raise UserError(ErrorCode.INVALID, "this is a stock item's label: count the stock instead", "label")
    return await items.asset_by_label(rt, code, "label")


async def record_scan(rt: Runtime, actor: Actor, stocktake_id: str, code: str, location_id: str) -> Counted:
    """A label read by the phone app's camera: verified as at a gate (a forged label, another
    site's, or an unknown asset is refused), counted once at the location."""
    stocktake = await get_stocktake(stocktake_id)
    _open(stocktake)
    location = await _scope_location(stocktake, location_id)
    asset = await _asset_of_label(rt, code)
    return await _record_scan(stocktake, asset, location, actor.person_id, None)


async def record_count(
    actor: Actor, stocktake_id: str, item_id: str, location_id: str, quantity: int
) -> StocktakeCount:
    stocktake = await get_stocktake(stocktake_id)
    _open(stocktake)
    if not 0 <= quantity <= MAX_QUANTITY:
        raise UserError(ErrorCode.INVALID, f"a counted quantity is 0 to {MAX_QUANTITY:,}", "quantity")
    location = await _scope_location(stocktake, location_id)
    item = await items.get_item(item_id)
    if item.serialized:
        raise UserError(ErrorCode.INVALID, f"{item.name} is labelled: scan each label instead", "itemId")
    values = {"quantity": quantity, "by_id": actor.person_id, "at": clock.now()}
    async with in_transaction():
        await _still_open(stocktake.id)
        row, created = await StocktakeCount.get_or_create(
            defaults=values, stocktake_id=stocktake.id, item_id=item.id, location_id=location
        )
        if not created:
            await StocktakeCount.filter(id=row.id).update(**values)
            row = await StocktakeCount.get(id=row.id)
    return row


async def assign_device(actor: Actor, stocktake_id: str, device_id: str, location_id: str) -> StocktakeDevice:
    """A warehouse handheld counts for this stocktake at this location: its label scans count
    here (answered as stocktake decisions) until it is released or the count ends."""
    stocktake = await get_stocktake(stocktake_id)
    _open(stocktake)
    location = await _scope_location(stocktake, location_id)
    device = await Device.get_or_none(id=parse_id(device_id, "device", "deviceId"))
    if device is None:
        raise not_found("device", "deviceId")
    values = {"stocktake_id": stocktake.id, "location_id": location, "assigned_by_id": actor.person_id}
    async with in_transaction():
        row, created = await StocktakeDevice.get_or_create(
            defaults={**values, "assigned_at": clock.now()}, device_id=device.id
        )
        if not created:
            await StocktakeDevice.filter(device_id=device.id).update(**values, assigned_at=clock.now())
            row = await StocktakeDevice.get(device_id=device.id)
    audit.note_change("stocktake", stocktake.id, None, {"device": device.id, "location": location})
    return row


async def release_device(device_id: str) -> bool:
    return bool(await StocktakeDevice.filter(device_id=parse_id(device_id, "device", "deviceId")).delete())


# Device answers: the existing decision frame, never granted, with these reasons.
COUNTED = "stocktake_counted"
COUNTED_BEFORE = "stocktake_counted_before"
BAD_LABEL = "stocktake_bad_label"


async def device_scan(rt: Runtime, device_id: int, code: str) -> str | None:
    """A `scan` frame's label from a device assigned to an open stocktake: counted there, and the
    decision's reason says how. None when the device counts for no open stocktake (the scan is
    a gate scan as ever)."""
    assignment = await StocktakeDevice.get_or_none(device_id=device_id)
    if assignment is None:
        return None
    stocktake = await Stocktake.get_or_none(id=assignment.stocktake_id, status=StocktakeStatus.OPEN)
    if stocktake is None:
        return None
    try:
        asset = await _asset_of_label(rt, code)
    except UserError:
        return BAD_LABEL
    try:
        counted = await _record_scan(stocktake, asset, assignment.location_id, None, device_id)
    except UserError:
        return None  # closed while this scan was on its way: the device is a gate scanner again
    return COUNTED if counted.first else COUNTED_BEFORE


# --- closing: the variances --------------------------------------------------------------------


async def close_stocktake(actor: Actor, stocktake_id: str) -> Stocktake:
    stocktake = await get_stocktake(stocktake_id, "id")
    if stocktake.status is not StocktakeStatus.OPEN:
        raise UserError(ErrorCode.NOT_ALLOWED, f"this stocktake is {stocktake.status.value} already", "id")
    async with in_transaction():
        claimed = await Stocktake.filter(id=stocktake.id, status=StocktakeStatus.OPEN).update(
            status=StocktakeStatus.COUNTED, counted_by_id=actor.person_id, counted_at=clock.now()
        )
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this stocktake was closed just now", "id")
        found = await _variances(stocktake)
        await StocktakeVariance.bulk_create(found)
        await StocktakeDevice.filter(stocktake_id=stocktake.id).delete()
        if not found:
            await Stocktake.filter(id=stocktake.id).update(status=StocktakeStatus.CLOSED, closed_at=clock.now())
    by_kind: dict[str, int] = {}
    for v in found:
        by_kind[v.kind.value] = by_kind.get(v.kind.value, 0) + 1
    audit.note_change("stocktake", stocktake.id, {"status": "OPEN"}, {"status": "COUNTED", "variances": by_kind})
    return await get_stocktake(stocktake.id)


async def _variances(stocktake: Stocktake) -> list[StocktakeVariance]:
    expected_assets = {a: (item, loc) for a, item, loc in stocktake.expected.get("assets", [])}
    expected_stock = {(item, loc): qty for item, loc, qty in stocktake.expected.get("stock", [])}
    scans = {s.asset_id: s.location_id for s in await StocktakeScan.filter(stocktake_id=stocktake.id)}
    scanned_assets = {a.id: a for a in await Asset.filter(id__in=list(scans))}
    out: list[StocktakeVariance] = []

    def variance(kind: VarianceKind, item_id: int, **rest: Any) -> None:
        out.append(StocktakeVariance(stocktake_id=stocktake.id, kind=kind, item_id=item_id, **rest))

    for asset_id, (item_id, recorded) in sorted(expected_assets.items()):
        seen = scans.get(asset_id)
        if seen is None:
            variance(
                VarianceKind.MISSING,
                item_id,
                asset_id=asset_id,
                location_id=recorded,
                recorded_location_id=recorded,
                expected=1,
                counted=0,
            )
        elif seen != recorded:
            variance(
                VarianceKind.WRONG_PLACE,
                item_id,
                asset_id=asset_id,
                location_id=seen,
                recorded_location_id=recorded,
                expected=1,
                counted=1,
            )
    for asset_id, seen in sorted(scans.items()):
        if asset_id in expected_assets:
            continue
        asset = scanned_assets[asset_id]
        variance(
            VarianceKind.UNEXPECTED,
            asset.item_id,
            asset_id=asset_id,
            location_id=seen,
            recorded_location_id=asset.location_id,
            expected=0,
            counted=1,
        )
    counts = {(c.item_id, c.location_id): c.quantity for c in await StocktakeCount.filter(stocktake_id=stocktake.id)}
    for key in sorted(set(expected_stock) | set(counts)):
        expected, counted = expected_stock.get(key, 0), counts.get(key, 0)
        if expected != counted:
            variance(
                VarianceKind.QUANTITY,
                key[0],
                location_id=key[1],
                recorded_location_id=key[1],
                expected=expected,
                counted=counted,
            )
    return out


async def variances(stocktake_id: int) -> list[StocktakeVariance]:
    return await StocktakeVariance.filter(stocktake_id=stocktake_id).order_by("id")


async def list_stocktakes(first: int, before_id: int | None, status: StocktakeStatus | None) -> list[Stocktake]:
    query = Stocktake.all()
    if status is not None:
        query = query.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


# --- adjusting ---------------------------------------------------------------------------------


async def _open_request_ids(ids: set[int]) -> set[int]:
    """The requests among `ids` still on their way (pending, or approved and not yet applied)."""
    live = (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.FULFILLED)
    return set(await ItemRequest.filter(id__in=list(ids), status__in=live).values_list("id", flat=True))  # type: ignore[arg-type]


async def request_adjustment(
    rt: Runtime, actor: Actor, stocktake_id: str, variance_ids: list[str], reason: str
) -> ItemRequest:
    stocktake = await get_stocktake(stocktake_id)
    if stocktake.status is not StocktakeStatus.COUNTED:
        raise UserError(
            ErrorCode.NOT_ALLOWED,
            "adjustments follow a counted stocktake with variances left"
            if stocktake.status is StocktakeStatus.CLOSED
            else "close the count first: the variances are found then",
            "stocktakeId",
        )
    why = validation.name(reason, "reason", max_length=500)
    if not variance_ids or len(variance_ids) > 1000:
        raise UserError(ErrorCode.INVALID, "name 1 to 1,000 variances", "varianceIds")
    ids = {parse_id(v, "variance", "varianceIds") for v in variance_ids}
    rows = await StocktakeVariance.filter(id__in=list(ids), stocktake_id=stocktake.id)
    if len(rows) != len(ids):
        raise UserError(ErrorCode.NOT_FOUND, "no such variance in this stocktake", "varianceIds")
    taken = await _open_request_ids({r.request_id for r in rows if r.request_id is not None})
    if any(r.adjusted_at is not None or r.request_id in taken for r in rows):
        raise UserError(ErrorCode.CONFLICT, "a variance named is adjusted or being adjusted already", "varianceIds")
    for r in rows:
        if r.kind is VarianceKind.UNEXPECTED:
            asset = await Asset.get(id=r.asset_id)
            if asset.status not in (AssetStatus.IN_STOCK, AssetStatus.MISSING):
                raise UserError(
                    ErrorCode.NOT_ALLOWED,
                    f"asset {asset.id} is {asset.status.value}: it comes back through its own request",
                    "varianceIds",
                )
    details = {"stocktakeId": stocktake.id, "varianceIds": sorted(ids), "reason": why}
    async with in_transaction():
        request = await approvals.submit(rt, actor, RequestKind.STOCKTAKE, None, len(ids), details)
        # Named by the request now; a refused or withdrawn request lets them be asked for again.
        claimed = await StocktakeVariance.filter(id__in=list(ids), adjusted_at__isnull=True).update(
            request_id=request.id
        )
        if claimed != len(ids):
            raise UserError(ErrorCode.CONFLICT, "a variance named was adjusted just now", "varianceIds")
    return request


def _changed_since(v: StocktakeVariance) -> UserError:
    """The asset was issued, lent or scrapped after the count: its own workflow has the last word,
    and the approval (in whose transaction this runs) is not recorded either."""
    return UserError(
        ErrorCode.CONFLICT,
        f"asset {v.asset_id} changed since the count; ask again without variance {v.id}",
    )


async def apply_adjustment(request: ItemRequest, by_id: int | None) -> None:
    """The approved request's corrections, each with its movement. Runs inside the approval's
    transaction: the last approval and the corrections it allows are one change."""
    rows = await StocktakeVariance.filter(id__in=request.details.get("varianceIds", []), adjusted_at__isnull=True)
    note = f"stocktake {request.details.get('stocktakeId')}: {request.details.get('reason', '')}"
    now = clock.now()
    for v in rows:
        if v.kind is VarianceKind.QUANTITY:
            assert v.location_id is not None
            change = v.counted - v.expected
            if change > 0:
                await items.add_stock(v.item_id, v.location_id, change)
            elif change < 0 and not await items.take_stock(v.item_id, v.location_id, -change):
                # Stock moved since the count and less is left than the count took away.
                raise UserError(ErrorCode.CONFLICT, f"stock at location {v.location_id} changed since the count")
            await items.move(
                "STOCKTAKE_ADJUST",
                v.item_id,
                quantity=change,
                location_id=v.location_id,
                request_id=request.id,
                by_id=by_id,
                notes=note,
            )
        elif v.kind is VarianceKind.MISSING:
            gone = await Asset.filter(
                id=v.asset_id, status=AssetStatus.IN_STOCK, location_id=v.recorded_location_id
            ).update(status=AssetStatus.MISSING, location_id=None)
            if not gone:
                raise _changed_since(v)
            await items.move(
                "STOCKTAKE_MISSING",
                v.item_id,
                asset_id=v.asset_id,
                location_id=v.location_id,
                request_id=request.id,
                by_id=by_id,
                notes=note,
            )
        else:  # WRONG_PLACE, UNEXPECTED: the asset is where the count found it
            found = await Asset.filter(id=v.asset_id, status__in=[AssetStatus.IN_STOCK, AssetStatus.MISSING]).update(
                status=AssetStatus.IN_STOCK, location_id=v.location_id
            )
            if not found:
                raise _changed_since(v)
            await items.move(
                "STOCKTAKE_RELOCATE",
                v.item_id,
                asset_id=v.asset_id,
                location_id=v.location_id,
                request_id=request.id,
                by_id=by_id,
                notes=note,
            )
        await StocktakeVariance.filter(id=v.id).update(adjusted_at=now)
    await approvals.mark(request, None, f"{len(rows)} adjustments made", RequestStatus.FULFILLED)
    stocktake_id = request.details.get("stocktakeId")
    if not await StocktakeVariance.filter(stocktake_id=stocktake_id, adjusted_at__isnull=True).exists():
        await Stocktake.filter(id=stocktake_id, status=StocktakeStatus.COUNTED).update(
            status=StocktakeStatus.CLOSED, closed_at=now
        )
    audit.note_change("stocktake", stocktake_id, None, {"adjusted": [v.id for v in rows], "request": request.id})


approvals.WHEN_APPROVED[RequestKind.STOCKTAKE] = apply_adjustment
