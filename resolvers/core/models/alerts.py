"""Alerts raised to guards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.devices import Device


class DeviceAlert(Model):
    """Something a guard or technician must look at: a misconfigured or silent device, a forced door."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    device: fields.ForeignKeyNullableRelation[Device] = fields.ForeignKeyField(
        "models.Device", null=True, related_name="alerts", on_delete=fields.CASCADE
    )
    device_id: int | None
    gate_id = fields.IntField(null=True)
    kind = fields.CharField(max_length=32)
    message = fields.CharField(max_length=500)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # The guards' workflow (resolvers/alerts/workflow.py): OPEN → ACKNOWLEDGED → CLOSED, with who
    # did each step. People are never deleted (offboarded), so plain ids like gate_id suffice.
    status = fields.CharField(max_length=16, default="OPEN")
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by_id = fields.IntField(null=True)
    assignee_id = fields.IntField(null=True)
    assigned_at = fields.DatetimeField(null=True)
    assigned_by_id = fields.IntField(null=True)
    resolved_at = fields.DatetimeField(null=True)  # when it was closed
    closed_by_id = fields.IntField(null=True)
    close_note = fields.CharField(max_length=500, default="")

    class Meta:
        table = "device_alert"
