"""Items, stock, assets, item requests, movements and gate item checks."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class ItemCategory(str, Enum):
    OFFICE_SUPPLIES = "OFFICE_SUPPLIES"
    PRODUCTION_MATERIALS = "PRODUCTION_MATERIALS"
    MAINTENANCE_PARTS = "MAINTENANCE_PARTS"
    OTHER = "OTHER"


class AssetStatus(str, Enum):
    IN_STOCK = "IN_STOCK"
    ISSUED = "ISSUED"
    LENT = "LENT"
    SCRAP_PENDING = "SCRAP_PENDING"
    DISPOSED = "DISPOSED"
    MISSING = "MISSING"  # not found by a stocktake, written off as missing by its approved adjustment


class RequestKind(str, Enum):
    PURCHASE = "PURCHASE"
    REQUISITION = "REQUISITION"
    BORROW = "BORROW"
    SCRAP = "SCRAP"
    STOCKTAKE = "STOCKTAKE"  # correcting the records after a stocktake


class RequestStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"


class Item(Model):
    """A kind of thing: serialized assets carry one label each; stock items are counted per location."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    spec = fields.CharField(max_length=200, default="")
    category = fields.CharEnumField(ItemCategory, max_length=24)
    serialized = fields.BooleanField(default=False)
    unit = fields.CharField(max_length=20, default="pcs")
    department_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "item"


class StockLocation(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    zone_id = fields.IntField(null=True)

    class Meta:
        table = "stock_location"


class StockLevel(Model):
    id = fields.IntField(primary_key=True)
    item_id = fields.IntField()
    location_id = fields.IntField()
    quantity = fields.IntField(default=0)

    class Meta:
        table = "stock_level"
        unique_together = (("item_id", "location_id"),)


class Asset(Model):
    """One labelled unit of a serialized item."""

    id = fields.IntField(primary_key=True)
    item_id = fields.IntField()
    serial = fields.CharField(max_length=100, default="")
    status = fields.CharEnumField(AssetStatus, max_length=16, default=AssetStatus.IN_STOCK)
    location_id = fields.IntField(null=True)
    holder_person_id = fields.IntField(null=True)
    holder_department_id = fields.IntField(null=True)
    owner_department_id = fields.IntField(null=True)
    due_back = fields.DatetimeField(null=True)
    purchased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "asset"
        indexes = (("item_id", "status"), ("holder_person_id",))


class ItemRequest(Model):
    """One workflow instance (purchase, requisition, borrowing, scrapping) and its approval steps."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(RequestKind, max_length=16)
    status = fields.CharEnumField(RequestStatus, max_length=16, default=RequestStatus.PENDING)
    requester_id = fields.IntField()
    department_id = fields.IntField(null=True)
    item_id = fields.IntField(null=True)
    quantity = fields.IntField(default=1)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    steps: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    history: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    fulfilled_quantity = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "item_request"
        indexes = (("status", "kind"), ("requester_id",))


class ItemMovement(Model):
    """Every step an item takes, scanned: the trace an audit follows."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=24)
    item_id = fields.IntField()
    asset_id = fields.IntField(null=True)
    quantity = fields.IntField(default=1)
    location_id = fields.IntField(null=True)
    person_id = fields.IntField(null=True)
    department_id = fields.IntField(null=True)
    request_id = fields.IntField(null=True)
    gate_id = fields.IntField(null=True)
    by_id = fields.IntField(null=True)
    notes = fields.CharField(max_length=500, default="")

    class Meta:
        table = "item_movement"
        indexes = (("item_id", "id"), ("asset_id", "id"), ("person_id", "id"), ("request_id",))


class ItemCheck(Model):
    """A person carrying items through a gate: what they declared, what the labels said, the guard's call."""

    id = fields.IntField(primary_key=True)
    # Null: labels scanned at a gate where no pass named their carrier (held for the guard).
    person_id = fields.IntField(null=True)
    gate_id = fields.IntField(null=True)
    direction = fields.CharField(max_length=4)
    declared: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    scanned: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    # Bumped with each label added: a decision is taken on the list as read, never on a grown one.
    scan_count = fields.IntField(default=0)
    problems: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16, default="OPEN")  # OPEN, HELD, CLEARED, REFUSED
    decided_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "item_check"
