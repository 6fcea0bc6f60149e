"""The gate event log."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.access import Gate
    from resolvers.core.models.devices import Device
    from resolvers.core.models.people import Person


class Direction(str, Enum):
    IN = "IN"
    OUT = "OUT"


class Decision(str, Enum):
    GRANTED = "GRANTED"
    DENIED = "DENIED"


class EntryMethod(str, Enum):
    QR = "QR"
    FACE = "FACE"
    MANUAL = "MANUAL"
    REMOTE = "REMOTE"


class GateEvent(Model):
    """One passage decision, manual entry, remote open or door alarm: the log everything reads."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="events", on_delete=fields.RESTRICT
    )
    gate_id: int
    zone_id = fields.IntField()  # the gate's zone at the time, kept for zone-scoped queries
    device: fields.ForeignKeyNullableRelation[Device] = fields.ForeignKeyField(
        "models.Device", null=True, related_name="events", on_delete=fields.RESTRICT
    )
    device_id: int | None
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="events", on_delete=fields.RESTRICT
    )
    person_id: int | None
    operator: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="operated_events", on_delete=fields.RESTRICT
    )
    operator_id: int | None
    credential_cid = fields.CharField(max_length=16, null=True)
    # The token step a passage used up, set only on the event that used it (an online scan past the
    # replay check, an uploaded passage the server verified): UNIQUE with the cid, so each
    # (credential, step) counts once across uploads, gates and server processes. NULLs never clash.
    credential_step = fields.BigIntField(null=True)
    decision = fields.CharEnumField(Decision, max_length=8, null=True)
    reason = fields.CharField(max_length=32)
    method = fields.CharEnumField(EntryMethod, max_length=8, null=True)
    direction = fields.CharEnumField(Direction, max_length=4, null=True)
    device_ref = fields.CharField(max_length=128, null=True)
    # Set on events a gate decided offline and uploaded later: (device, seq) is stored once.
    device_seq = fields.BigIntField(null=True)
    latency_ms = fields.FloatField(null=True)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    offline = fields.BooleanField(default=False)
    # FACE decisions: the embedding distance of the match (never sent to the device), and the
    # terminal's liveness verdict (null: it did not report one).
    match_distance = fields.FloatField(null=True)
    liveness = fields.BooleanField(null=True)

    class Meta:
        table = "gate_event"
        indexes = (("person_id", "id"), ("gate_id", "id"), ("zone_id", "id"), ("device_id", "device_ref"))
        unique_together = (("device_id", "device_seq"), ("credential_cid", "credential_step"))
