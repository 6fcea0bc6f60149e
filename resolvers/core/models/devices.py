"""Gate devices, their commands, health, maintenance, door reports and lockdowns."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.access import Gate
    from resolvers.core.models.people import Person


class DeviceKind(str, Enum):
    QR_SCANNER = "QR_SCANNER"
    FACE_TERMINAL = "FACE_TERMINAL"
    TURNSTILE = "TURNSTILE"


class DeviceStatus(str, Enum):
    """Lifecycle (POLICY 5.2-5.4): registered → commissioned → in service ⇄ under repair → retired."""

    REGISTERED = "REGISTERED"
    COMMISSIONED = "COMMISSIONED"
    IN_SERVICE = "IN_SERVICE"
    UNDER_REPAIR = "UNDER_REPAIR"
    RETIRED = "RETIRED"


class MaintenanceKind(str, Enum):
    CLEANING = "CLEANING"
    INSPECTION = "INSPECTION"
    CALIBRATION = "CALIBRATION"
    SOFTWARE_UPDATE = "SOFTWARE_UPDATE"
    REPAIR = "REPAIR"


class Device(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(DeviceKind, max_length=16)
    secret_hash = fields.CharField(max_length=64)
    status = fields.CharEnumField(DeviceStatus, max_length=16, default=DeviceStatus.REGISTERED)
    firmware = fields.CharField(max_length=64, default="")
    last_seen_at = fields.DatetimeField(null=True)
    # Commissioning checklist: network reached, configuration (snapshot) loaded, a test scan decided.
    network_reached_at = fields.DatetimeField(null=True)
    config_loaded_at = fields.DatetimeField(null=True)
    test_scan_at = fields.DatetimeField(null=True)
    last_stats: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    offline_alerted_at = fields.DatetimeField(null=True)
    health_alerted_at = fields.DatetimeField(null=True)
    # The device as a company asset: scrapping that asset retires the device (POLICY 5.4).
    asset_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device"


class DeviceGate(Model):
    id = fields.IntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="gate_links", on_delete=fields.CASCADE
    )
    device_id: int
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="device_links", on_delete=fields.CASCADE
    )
    gate_id: int

    class Meta:
        table = "device_gate"
        unique_together = (("device_id", "gate_id"),)


class DoorReport(Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="door_reports", on_delete=fields.CASCADE
    )
    device_id: int
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="door_reports", on_delete=fields.CASCADE
    )
    gate_id: int
    state = fields.CharField(max_length=16)
    reported_at = fields.DatetimeField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "door_report"


class DeviceSnapshot(Model):
    """An offline snapshot issued to a device: an event it uploads must fall within one's validity."""

    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="snapshots", on_delete=fields.CASCADE
    )
    device_id: int
    issued_at = fields.DatetimeField()
    valid_until = fields.DatetimeField()

    class Meta:
        table = "device_snapshot"
        indexes = (("device_id", "valid_until"),)


class DeviceCommand(Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="commands", on_delete=fields.CASCADE
    )
    device_id: int
    gate_id = fields.IntField(null=True)
    command = fields.CharField(max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    issued_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="device_commands", on_delete=fields.SET_NULL
    )
    issued_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    acked_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=1)
    last_sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "device_command"


class Lockdown(Model):
    """A zone (with its sub-zones) shut, or held open for evacuation, until released."""

    id = fields.IntField(primary_key=True)
    zone_id = fields.IntField(null=True)  # with gate_id null too: the whole site
    gate_id = fields.IntField(null=True)  # one gate only
    mode = fields.CharField(max_length=16)  # LOCKDOWN or EVACUATION
    reason = fields.CharField(max_length=500, default="")
    started_by_id = fields.IntField(null=True)
    started_at = fields.DatetimeField()
    released_by_id = fields.IntField(null=True)
    released_at = fields.DatetimeField(null=True)

    class Meta:
        table = "lockdown"


class DeviceHealthSample(Model):
    """One heartbeat's worth of a device's figures, for the rolling health window."""

    id = fields.BigIntField(primary_key=True)
    device_id = fields.IntField()
    at = fields.DatetimeField()
    scans = fields.IntField(default=0)
    decode_failures = fields.IntField(default=0)
    recognition_attempts = fields.IntField(default=0)
    recognition_successes = fields.IntField(default=0)

    class Meta:
        table = "device_health_sample"
        indexes = (("device_id", "at"),)


class MaintenancePlan(Model):
    id = fields.IntField(primary_key=True)
    device_id = fields.IntField()
    kind = fields.CharEnumField(MaintenanceKind, max_length=16)
    interval_days = fields.IntField()
    next_due = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "maintenance_plan"


class MaintenanceRecord(Model):
    id = fields.IntField(primary_key=True)
    device_id = fields.IntField()
    plan_id = fields.IntField(null=True)
    kind = fields.CharEnumField(MaintenanceKind, max_length=16)
    done_at = fields.DatetimeField()
    done_by_id = fields.IntField(null=True)
    notes = fields.CharField(max_length=1000, default="")

    class Meta:
        table = "maintenance_record"


class DeviceTarget(Model):
    """What a device kind must achieve (POLICY 5.2): rates as fractions, latency in milliseconds."""

    kind = fields.CharEnumField(DeviceKind, max_length=16, primary_key=True)
    min_decode_success = fields.FloatField(default=0.98)
    min_recognition_success = fields.FloatField(default=0.95)
    max_latency_ms = fields.FloatField(default=200.0)
    max_denied_ratio = fields.FloatField(default=0.5)

    class Meta:
        table = "device_target"
