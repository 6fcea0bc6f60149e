"""GraphQL object types and mutation payloads: devices."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models
from schema.access.types import Gate, Zone
from schema.core.context import Info
from schema.core.enums import DeviceKind, DeviceStatus, MaintenanceKind
from schema.core.payloads import UserError


@strawberry.type(description="A gate device (scanner, face terminal, turnstile) on the device protocol.")
class Device:
    id: strawberry.ID = strawberry.field(description="Opaque; the device signs in with it and its secret.")
    name: str = strawberry.field(description="As technicians know it.")
    kind: DeviceKind = strawberry.field(description="What it is.")
    firmware: str = strawberry.field(description="As the device last reported it.")
    last_seen_at: datetime | None = strawberry.field(description="Its last heartbeat; null: never connected.")
    retired: bool = strawberry.field(description="Retired for good (status RETIRED).")
    status: DeviceStatus = strawberry.field(description="Where it is in its lifecycle.")
    network_reached_at: datetime | None = strawberry.field(description="Commissioning: first reached the server.")
    config_loaded_at: datetime | None = strawberry.field(description="Commissioning: loaded its configuration.")
    test_scan_at: datetime | None = strawberry.field(description="Commissioning: decided its first test scan.")

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

    @strawberry.field(description="Connected to some server process now.")
    async def online(self, info: Info) -> bool:
        return await info.context.loaders.device_online.load(int(self.id))

    @strawberry.field(description="The gates it serves.")
    async def gates(self, info: Info) -> list[Gate]:
        topo = await info.context.rt.topology.get()
        ids = sorted(topo.device_gates.get(int(self.id), ()))
        rows = await info.context.loaders.gate.load_many(ids)
        return [Gate.of(r) for r in rows if r is not None]


@strawberry.type(description="The answer to registerDevice.")
class RegisterDevicePayload:
    device: Device | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    device_secret: str | None = strawberry.field(default=None, description="Shown once; stored only hashed.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="A device's figures over a rolling window, against its kind's targets.")
class DeviceHealth:
    window_minutes: int = strawberry.field(description="The window, up to now.")
    scans: int = strawberry.field(description="Scans the device counted.")
    decode_failures: int = strawberry.field(description="Scans it could not decode.")
    decode_success: float | None = strawberry.field(description="Decoded share of scans; null without scans.")
    decisions: int = strawberry.field(description="Passages the server decided for it.")
    denied_ratio: float | None = strawberry.field(description="Denied share of decisions; null without any.")
    latency_p50_ms: float | None = strawberry.field(description="Decision time, not counting the shared commit.")
    latency_p95_ms: float | None = strawberry.field(description="95th percentile of the decision time.")
    recognition_success: float | None = strawberry.field(
        description="Recognised share of face attempts; null without any."
    )
    problems: list[str] = strawberry.field(description="Targets this device misses in the window.")


@strawberry.type(description="What a kind of device should achieve; one that misses it raises an alert.")
class DeviceTarget:
    kind: DeviceKind = strawberry.field(description="The kind of device.")
    min_decode_success: float = strawberry.field(description="Least decoded share of scans (0–1).")
    min_recognition_success: float = strawberry.field(description="Least recognised share of face attempts (0–1).")
    max_latency_ms: float = strawberry.field(description="Most p95 decision time.")
    max_denied_ratio: float = strawberry.field(description="Most denied share of decisions (0–1).")

    @classmethod
    def of(cls, row: models.DeviceTarget) -> DeviceTarget:
        return cls(
            kind=row.kind,
            min_decode_success=row.min_decode_success,
            min_recognition_success=row.min_recognition_success,
            max_latency_ms=row.max_latency_ms,
            max_denied_ratio=row.max_denied_ratio,
        )


@strawberry.type(description="Recurring maintenance of a device.")
class MaintenancePlan:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    kind: MaintenanceKind = strawberry.field(description="The work to do.")
    interval_days: int = strawberry.field(description="Days between two rounds.")
    next_due: datetime = strawberry.field(description="When the next round is due; recording the work moves it.")
    device_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.MaintenancePlan) -> MaintenancePlan:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            interval_days=row.interval_days,
            next_due=row.next_due,
            device_id_=row.device_id,
        )

    @strawberry.field(description="The device to maintain.")
    async def device(self, info: Info) -> Device:
        row = await info.context.loaders.device.load(self.device_id_)
        assert row is not None  # devices are retired, never deleted
        return Device.of(row)


@strawberry.type(description="Maintenance work done on a device.")
class MaintenanceRecord:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    kind: MaintenanceKind = strawberry.field(description="The work done.")
    done_at: datetime = strawberry.field(description="When it was recorded.")
    notes: str = strawberry.field(description="What the technician noted; empty when nothing.")
    device_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.MaintenanceRecord) -> MaintenanceRecord:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            done_at=row.done_at,
            notes=row.notes,
            device_id_=row.device_id,
        )

    @strawberry.field(description="The device worked on.")
    async def device(self, info: Info) -> Device:
        row = await info.context.loaders.device.load(self.device_id_)
        assert row is not None  # devices are retired, never deleted
        return Device.of(row)


@strawberry.type(description="A lockdown or evacuation: of one gate, a zone with its sub-zones, or the whole site.")
class Lockdown:
    id: strawberry.ID = strawberry.field(description="Opaque; release it with releaseLockdown.")
    mode: str = strawberry.field(description="LOCKDOWN (gates shut) or EVACUATION (gates held open).")
    reason: str = strawberry.field(description="Why, as the guard gave it.")
    started_at: datetime = strawberry.field(description="When it began.")
    released_at: datetime | None = strawberry.field(description="When it was released; null while in force.")
    zone_id_: strawberry.Private[int | None]
    gate_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Lockdown) -> Lockdown:
        return cls(
            id=strawberry.ID(str(row.id)),
            mode=row.mode,
            reason=row.reason,
            started_at=row.started_at,
            released_at=row.released_at,
            zone_id_=row.zone_id,
            gate_id_=row.gate_id,
        )

    @strawberry.field(description="The zone (with its sub-zones) it covers; null for a gate or the whole site.")
    async def zone(self, info: Info) -> Zone | None:
        if self.zone_id_ is None:
            return None
        row = await info.context.loaders.zone.load(self.zone_id_)
        return Zone.of(row) if row else None

    @strawberry.field(description="The one gate it covers; null for a zone or the whole site.")
    async def gate(self, info: Info) -> Gate | None:
        if self.gate_id_ is None:
            return None
        row = await info.context.loaders.gate.load(self.gate_id_)
        return Gate.of(row) if row else None


@strawberry.type(description="The answer to the device lifecycle mutations.")
class DevicePayload:
    device: Device | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    device_secret: str | None = strawberry.field(default=None, description="Shown once, after a rotation.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to lockdown, evacuate and releaseLockdown.")
class LockdownPayload:
    lockdown: Lockdown | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to addMaintenancePlan.")
class MaintenancePlanPayload:
    plan: MaintenancePlan | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to recordMaintenance.")
class MaintenanceRecordPayload:
    record: MaintenanceRecord | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to setDeviceTarget.")
class DeviceTargetPayload:
    target: DeviceTarget | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


def _device(row: models.Device | None) -> Device | None:
    return Device.of(row) if row else None
