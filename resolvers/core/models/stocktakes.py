"""Stocktakes (POLICY 7.2 stock accuracy, 4): what was expected where when the count began,
what was scanned and counted, and the variances found when it ended."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class StocktakeStatus(str, Enum):
    OPEN = "OPEN"  # counting: scans and counts are taken
    COUNTED = "COUNTED"  # counting ended, variances found; adjustments may be asked for
    CLOSED = "CLOSED"  # every variance adjusted (or none found)


class VarianceKind(str, Enum):
    MISSING = "MISSING"
    UNEXPECTED = "UNEXPECTED"
    WRONG_PLACE = "WRONG_PLACE"
    QUANTITY = "QUANTITY"


class Stocktake(Model):
    """One count of one location (location_id) or of all (null). `expected` is the snapshot taken
    at the opening: {"assets": [[asset, item, location], ...], "stock": [[item, location, qty], ...]}."""

    id = fields.IntField(primary_key=True)
    location_id = fields.IntField(null=True)
    status = fields.CharEnumField(StocktakeStatus, max_length=16, default=StocktakeStatus.OPEN)
    opened_by_id = fields.IntField()
    opened_at = fields.DatetimeField()
    counted_by_id = fields.IntField(null=True)
    counted_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    expected: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        table = "stocktake"
        indexes = (("status",), ("counted_at",))


class StocktakeScan(Model):
    """A labelled asset seen during the count; the same label twice counts once."""

    id = fields.IntField(primary_key=True)
    stocktake_id = fields.IntField()
    asset_id = fields.IntField()
    location_id = fields.IntField()
    by_person_id = fields.IntField(null=True)
    by_device_id = fields.IntField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "stocktake_scan"
        unique_together = (("stocktake_id", "asset_id"),)


class StocktakeCount(Model):
    """Unlabelled stock counted at a location; counting the line again replaces the figure."""

    id = fields.IntField(primary_key=True)
    stocktake_id = fields.IntField()
    item_id = fields.IntField()
    location_id = fields.IntField()
    quantity = fields.IntField()
    by_id = fields.IntField()
    at = fields.DatetimeField()

    class Meta:
        table = "stocktake_count"
        unique_together = (("stocktake_id", "item_id", "location_id"),)


class StocktakeDevice(Model):
    """A handheld counting for an open stocktake at one location: its label scans count there."""

    device_id = fields.IntField(primary_key=True, generated=False)
    stocktake_id = fields.IntField()
    location_id = fields.IntField()
    assigned_by_id = fields.IntField()
    assigned_at = fields.DatetimeField()

    class Meta:
        table = "stocktake_device"


class StocktakeVariance(Model):
    """One difference found at the close. `location_id` is where the count saw it (MISSING:
    where it was expected); `recorded_location_id` where the records had it. An adjustment
    request names it (request_id) until approved (adjusted_at) or refused."""

    id = fields.IntField(primary_key=True)
    stocktake_id = fields.IntField()
    kind = fields.CharEnumField(VarianceKind, max_length=16)
    item_id = fields.IntField()
    asset_id = fields.IntField(null=True)
    location_id = fields.IntField(null=True)
    recorded_location_id = fields.IntField(null=True)
    expected = fields.IntField()
    counted = fields.IntField()
    request_id = fields.IntField(null=True)
    adjusted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "stocktake_variance"
        indexes = (("stocktake_id", "kind"),)
