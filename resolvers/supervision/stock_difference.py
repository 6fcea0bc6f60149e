"""Finding source "stock_difference" (area items, POLICY 7.2 stock accuracy): the differences
the last stocktake of each scope counted in the period found and that nobody has corrected.

An adjusted variance went through two approvers and left a movement: the records were put
right, and that trail is for the movements' readers. What an inspector must see is a
difference still standing: the records still disagree with what the count found. An earlier
count of the same scope is superseded by a later one in the period (it counted again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.core.models import (
    Asset,
    Item,
    StockLocation,
    Stocktake,
    StocktakeStatus,
    StocktakeVariance,
    VarianceKind,
)
from resolvers.supervision.proposals import Period, Proposal, source

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

_SAYS = {
    VarianceKind.MISSING: "not found at {where}",
    VarianceKind.UNEXPECTED: "found at {where}, not expected there",
    VarianceKind.WRONG_PLACE: "found at {where}, recorded at {recorded}",
    VarianceKind.QUANTITY: "{counted} counted at {where}, {expected} on record ({difference:+d})",
}


@source("stock_difference", "items", "Stock differences a stocktake found and nobody corrected")
async def stock_differences(rt: Runtime, period: Period) -> list[Proposal]:
    counted = await Stocktake.filter(
        status__in=[StocktakeStatus.COUNTED, StocktakeStatus.CLOSED],
        counted_at__gte=period.start,
        counted_at__lt=period.end,
    ).order_by("counted_at", "id")
    latest: dict[int | None, Stocktake] = {}
    for row in counted:
        latest[row.location_id] = row  # the later count of a scope replaces the earlier
    if not latest:
        return []
    ids = [row.id for row in latest.values()]
    rows = await StocktakeVariance.filter(stocktake_id__in=ids, adjusted_at__isnull=True).order_by("stocktake_id", "id")
    items = {i.id: i for i in await Item.filter(id__in={v.item_id for v in rows})}
    places = {
        loc.id: loc.name
        for loc in await StockLocation.filter(
            id__in={x for v in rows for x in (v.location_id, v.recorded_location_id) if x is not None}
        )
    }
    owners = {a.id: a.owner_department_id for a in await Asset.filter(id__in={v.asset_id for v in rows if v.asset_id})}
    found = []
    for v in rows:
        item = items.get(v.item_id)
        name = item.name if item else f"item {v.item_id}"
        what = f"{name} #{v.asset_id}" if v.asset_id is not None else name
        says = _SAYS[v.kind].format(
            where=places.get(v.location_id or 0, "no location"),
            recorded=places.get(v.recorded_location_id or 0, "no location"),
            counted=v.counted,
            expected=v.expected,
            difference=v.counted - v.expected,
        )
        department = owners.get(v.asset_id or 0) or (item.department_id if item else None)
        found.append(
            Proposal(
                source="stock_difference",
                area="items",
                key=f"stock_difference:stocktake_variance:{v.id}",
                summary=f"Stocktake {v.stocktake_id}: {what} {says}",
                department_id=department,
                subject_type="asset" if v.asset_id is not None else "item",
                subject_id=str(v.asset_id if v.asset_id is not None else v.item_id),
                evidence={
                    "stocktakeId": v.stocktake_id,
                    "varianceId": v.id,
                    "kind": v.kind.value,
                    "itemId": v.item_id,
                    "assetId": v.asset_id,
                    "locationId": v.location_id,
                    "recordedLocationId": v.recorded_location_id,
                    "expected": v.expected,
                    "counted": v.counted,
                    "adjustmentRequestId": v.request_id,
                },
            )
        )
    return found
