"""GraphQL object types and mutation payloads: devices."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from resolvers.core import models
from schema.access.types import Gate
from schema.core.context import Info
from schema.core.enums import (
    DeviceKind,
    DeviceStatus,
)
from schema.core.payloads import UserError

if TYPE_CHECKING:
    pass
from resolvers.core import models as m
from resolvers.core.models import MaintenanceKind


@strawberry.type
class Device:
    id: strawberry.ID
    name: str
    kind: DeviceKind
    firmware: str
    last_seen_at: datetime | None
    retired: bool
    status: DeviceStatus
    network_reached_at: datetime | None
    config_loaded_at: datetime | None
    test_scan_at: datetime | None

    @classmethod
    def of(cls, row: models.Device) -> Device:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            kind=row.kind,
            firmware=row.firmware,
            last_seen_at=row.last_seen_at,
            retired=row.status is models.DeviceStatus.RETIRED,
            status=row.status,
            network_reached_at=row.network_reached_at,
            config_loaded_at=row.config_loaded_at,
            test_scan_at=row.test_scan_at,
        )

    @strawberry.field
    async def online(self, info: Info) -> bool:
        return await info.context.rt.state.device_connection(int(self.id)) is not None

    @strawberry.field
    async def gates(self, info: Info) -> list[Gate]:
        topo = await info.context.rt.topology.get()
        ids = sorted(topo.device_gates.get(int(self.id), ()))
        rows = await info.context.loaders.gate.load_many(ids)
        return [Gate.of(r) for r in rows if r is not None]


@strawberry.type
class RegisterDevicePayload:
    device: Device | None = None
    device_secret: str | None = strawberry.field(default=None, description="Shown once; stored only hashed.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeviceHealth:
    window_minutes: int
    scans: int
    decode_failures: int
    decode_success: float | None
    decisions: int
    denied_ratio: float | None
    latency_p50_ms: float | None = strawberry.field(description="Decision time, not counting the shared commit.")
    latency_p95_ms: float | None
    recognition_success: float | None
    problems: list[str] = strawberry.field(description="Targets this device misses in the window.")


@strawberry.type
class DeviceTarget:
    kind: DeviceKind
    min_decode_success: float
    min_recognition_success: float
    max_latency_ms: float
    max_denied_ratio: float

    @classmethod
    def of(cls, row: m.DeviceTarget) -> DeviceTarget:
        return cls(
            kind=row.kind,
            min_decode_success=row.min_decode_success,
            min_recognition_success=row.min_recognition_success,
            max_latency_ms=row.max_latency_ms,
            max_denied_ratio=row.max_denied_ratio,
        )


@strawberry.type
class MaintenancePlan:
    id: strawberry.ID
    device_id: strawberry.ID
    kind: MaintenanceKind
    interval_days: int
    next_due: datetime

    @classmethod
    def of(cls, row: m.MaintenancePlan) -> MaintenancePlan:
        return cls(
            id=strawberry.ID(str(row.id)),
            device_id=strawberry.ID(str(row.device_id)),
            kind=row.kind,
            interval_days=row.interval_days,
            next_due=row.next_due,
        )


@strawberry.type
class MaintenanceRecord:
    id: strawberry.ID
    device_id: strawberry.ID
    kind: MaintenanceKind
    done_at: datetime
    notes: str


@strawberry.type
class Lockdown:
    id: strawberry.ID
    mode: str = strawberry.field(description="LOCKDOWN or EVACUATION")
    zone_id: strawberry.ID | None
    gate_id: strawberry.ID | None
    reason: str
    started_at: datetime
    released_at: datetime | None

    @classmethod
    def of(cls, row: m.Lockdown) -> Lockdown:
        return cls(
            id=strawberry.ID(str(row.id)),
            mode=row.mode,
            zone_id=strawberry.ID(str(row.zone_id)) if row.zone_id is not None else None,
            gate_id=strawberry.ID(str(row.gate_id)) if row.gate_id is not None else None,
            reason=row.reason,
            started_at=row.started_at,
            released_at=row.released_at,
        )


@strawberry.type
class DevicePayload:
    device: Device | None = None
    device_secret: str | None = strawberry.field(default=None, description="Shown once, after a rotation.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LockdownPayload:
    lockdown: Lockdown | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MaintenancePlanPayload:
    plan: MaintenancePlan | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MaintenanceRecordPayload:
    record: MaintenanceRecord | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeviceTargetPayload:
    target: DeviceTarget | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _device(row: m.Device | None) -> Device | None:
    return Device.of(row) if row else None
