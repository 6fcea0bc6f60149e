"""Zones, gates, grants and access requests."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.people import Department, Person


class AntiPassback(str, Enum):
    OFF = "OFF"
    SOFT = "SOFT"
    HARD = "HARD"


class ZoneKind(str, Enum):
    OFFICE = "OFFICE"
    MANAGEMENT = "MANAGEMENT"
    MAINTENANCE = "MAINTENANCE"
    WAREHOUSE = "WAREHOUSE"
    PRODUCTION = "PRODUCTION"
    PUBLIC = "PUBLIC"


class AccessRequestStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class GateDirection(str, Enum):
    IN = "IN"
    OUT = "OUT"
    BOTH = "BOTH"


class Zone(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    parent: fields.ForeignKeyNullableRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", null=True, related_name="children", on_delete=fields.RESTRICT
    )
    parent_id: int | None
    anti_passback = fields.CharEnumField(AntiPassback, max_length=8, default=AntiPassback.OFF)
    kind = fields.CharEnumField(ZoneKind, max_length=16, default=ZoneKind.OFFICE)
    # The department whose head may grant this zone (and its sub-zones), and the person
    # who approves requests for it (a maintenance area's responsible head).
    department_id = fields.IntField(null=True)
    responsible_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # A high-security zone: a face at its gates needs a pass scan too, and a pass a face (issue 15).
    face_and_pass = fields.BooleanField(default=False)

    class Meta:
        table = "zone"


class Gate(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="gates", on_delete=fields.RESTRICT
    )
    zone_id: int
    direction = fields.CharEnumField(GateDirection, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "gate"


class Grant(Model):
    id = fields.IntField(primary_key=True)
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="grants", on_delete=fields.RESTRICT
    )
    zone_id: int
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="grants", on_delete=fields.CASCADE
    )
    person_id: int | None
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="grants", on_delete=fields.CASCADE
    )
    department_id: int | None
    position = fields.CharField(max_length=200, null=True)
    valid_from = fields.DatetimeField(null=True)
    valid_until = fields.DatetimeField(null=True)
    # [{"weekdays": [1..7], "start": "HH:MM", "end": "HH:MM"}] in the site's time zone; [] = any time
    schedule: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    review_due_at = fields.DatetimeField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    reviewed_by_id = fields.IntField(null=True)
    request_id = fields.IntField(null=True)
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="grants_given", on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "access_grant"
        indexes = (("person_id", "zone_id"), ("department_id", "zone_id"), ("position", "zone_id"))


class AccessRequest(Model):
    """An employee asks for time-limited access to a zone (a maintenance area); its responsible head decides."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="access_requests", on_delete=fields.CASCADE
    )
    person_id: int
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="access_requests", on_delete=fields.RESTRICT
    )
    zone_id: int
    reason = fields.CharField(max_length=500)
    days = fields.IntField()
    status = fields.CharEnumField(AccessRequestStatus, max_length=16, default=AccessRequestStatus.PENDING)
    decided_by_id = fields.IntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.CharField(max_length=500, default="")
    grant_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "access_request"
