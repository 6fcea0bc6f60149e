"""Visits and the visitor watchlist."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.access import Zone
    from resolvers.core.models.people import Person


class VisitStatus(str, Enum):
    INVITED = "INVITED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CHECKED_IN = "CHECKED_IN"
    CHECKED_OUT = "CHECKED_OUT"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class Visit(Model):
    """One booked (or emergency) visit: the visitor's person record exists from registration on."""

    id = fields.IntField(primary_key=True)
    host: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="hosted_visits", on_delete=fields.RESTRICT
    )
    host_id: int
    visitor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="visits", on_delete=fields.RESTRICT
    )
    visitor_id: int | None
    visitor_name = fields.CharField(max_length=200)
    phone_enc = fields.BinaryField(null=True)
    phone_hash = fields.CharField(max_length=64, null=True, db_index=True)
    phone_masked = fields.CharField(max_length=64, null=True)
    company = fields.CharField(max_length=200, default="")
    purpose = fields.CharField(max_length=500)
    expected_start = fields.DatetimeField()
    expected_end = fields.DatetimeField()
    status = fields.CharEnumField(VisitStatus, max_length=20, default=VisitStatus.INVITED)
    invite_code_hash = fields.CharField(max_length=64, null=True, unique=True)
    emergency = fields.BooleanField(default=False)
    emergency_reason = fields.CharField(max_length=500, default="")
    escorted = fields.BooleanField(default=False)
    escort_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    approved_by_id = fields.IntField(null=True)
    approved_at = fields.DatetimeField(null=True)
    # An emergency visit's approval: how many levels up it has escalated, and when it last did.
    approval_level = fields.IntField(default=0)
    approval_escalated_at = fields.DatetimeField(null=True)
    rejected_reason = fields.CharField(max_length=500, default="")
    checked_in_at = fields.DatetimeField(null=True)
    checked_in_by_id = fields.IntField(null=True)
    checked_out_at = fields.DatetimeField(null=True)
    checked_out_by_id = fields.IntField(null=True)
    site_entries = fields.IntField(default=0)
    reminded_at = fields.DatetimeField(null=True)
    overstay_alerted_at = fields.DatetimeField(null=True)
    anonymised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "visit"
        indexes = (("host_id", "id"), ("status", "expected_end"), ("expected_start",))


class VisitZone(Model):
    id = fields.IntField(primary_key=True)
    visit: fields.ForeignKeyRelation[Visit] = fields.ForeignKeyField(
        "models.Visit", related_name="zone_links", on_delete=fields.CASCADE
    )
    visit_id: int
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="visit_links", on_delete=fields.RESTRICT
    )
    zone_id: int

    class Meta:
        table = "visit_zone"
        unique_together = (("visit_id", "zone_id"),)


class WatchlistEntry(Model):
    """A person security has blocked, found by the keyed hash of their ID number. The number is
    kept sealed as well (since migration 0020) so a key rotation can recompute the hash."""

    id = fields.IntField(primary_key=True)
    id_number_hash = fields.CharField(max_length=64, db_index=True)
    id_number_enc = fields.BinaryField(null=True)
    id_number_masked = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=500)
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="watchlist_entries", on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    lifted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "watchlist_entry"
