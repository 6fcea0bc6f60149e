"""Fleet fields (POLICY 5): lifecycle, health, maintenance, lockdowns and evacuations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.core.models import DeviceKind, DeviceStatus, MaintenanceKind
from resolvers.devices import fleet as device_fleet
from resolvers.devices import lockdowns
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import IsGateStaff, IsSiteAdmin
from schema.core.types import Device, UserError


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


@strawberry.type
class DeviceQuery:
    @strawberry.field(permission_classes=[IsGateStaff], description="A device's figures over a rolling window.")
    async def device_health(self, device_id: strawberry.ID, window_minutes: int = 60) -> DeviceHealth | None:
        device, _ = await attempt(device_fleet.get_device(device_id, "deviceId"))
        if device is None:
            return None
        h = await device_fleet.health(device, max(1, min(window_minutes, 7 * 24 * 60)))
        return DeviceHealth(
            window_minutes=h.window_minutes,
            scans=h.scans,
            decode_failures=h.decode_failures,
            decode_success=h.decode_success,
            decisions=h.decisions,
            denied_ratio=h.denied_ratio,
            latency_p50_ms=h.latency_p50_ms,
            latency_p95_ms=h.latency_p95_ms,
            recognition_success=h.recognition_success,
            problems=h.problems,
        )

    @strawberry.field(permission_classes=[IsGateStaff])
    async def device_targets(self) -> list[DeviceTarget]:
        return [DeviceTarget.of(await device_fleet.target_for(kind)) for kind in DeviceKind]

    @strawberry.field(permission_classes=[IsGateStaff])
    async def maintenance_plans(self, device_id: strawberry.ID | None = None) -> list[MaintenancePlan]:
        query = m.MaintenancePlan.all()
        if device_id is not None:
            query = query.filter(device_id=int(device_id) if is_id(device_id) else -1)
        return [MaintenancePlan.of(p) for p in await query.order_by("next_due")]

    @strawberry.field(permission_classes=[IsGateStaff], description="Plans whose next date has passed.")
    async def overdue_maintenance(self) -> list[MaintenancePlan]:
        return [MaintenancePlan.of(p) for p in await device_fleet.overdue()]

    @strawberry.field(permission_classes=[IsGateStaff], description="Lockdowns and evacuations in force.")
    async def lockdowns(self) -> list[Lockdown]:
        return [Lockdown.of(r) for r in await lockdowns.active()]


@strawberry.type
class DeviceMutation:
    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Registered → commissioned, once network, configuration and a test scan are done.",
    )
    async def commission_device(self, id: strawberry.ID) -> DevicePayload:
        row, errors = await attempt(device_fleet.commission(id))
        return DevicePayload(device=_device(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="IN_SERVICE or UNDER_REPAIR.")
    async def set_device_status(self, id: strawberry.ID, status: DeviceStatus) -> DevicePayload:
        row, errors = await attempt(device_fleet.set_status(id, status))
        return DevicePayload(device=_device(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Final: the device is refused from now on.")
    async def retire_device(self, info: Info, id: strawberry.ID) -> DevicePayload:
        row, errors = await attempt(device_fleet.retire(info.context.rt, id))
        return DevicePayload(device=_device(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="The device is this labelled asset: scrapping the asset retires the device.",
    )
    async def link_device_asset(self, info: Info, id: strawberry.ID, label_code: str) -> DevicePayload:
        row, errors = await attempt(device_fleet.link_asset(info.context.rt, id, label_code))
        return DevicePayload(device=_device(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def rotate_device_secret(self, info: Info, id: strawberry.ID) -> DevicePayload:
        result, errors = await attempt(device_fleet.rotate_secret(info.context.rt, id))
        if result is None:
            return DevicePayload(errors=errors)
        return DevicePayload(device=Device.of(result[0]), device_secret=result[1])

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def set_device_target(
        self,
        kind: DeviceKind,
        min_decode_success: float | None = None,
        min_recognition_success: float | None = None,
        max_latency_ms: float | None = None,
        max_denied_ratio: float | None = None,
    ) -> DeviceTargetPayload:
        values = {
            "min_decode_success": min_decode_success,
            "min_recognition_success": min_recognition_success,
            "max_latency_ms": max_latency_ms,
            "max_denied_ratio": max_denied_ratio,
        }
        row, errors = await attempt(device_fleet.set_target(kind, values))
        return DeviceTargetPayload(target=DeviceTarget.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def add_maintenance_plan(
        self, device_id: strawberry.ID, kind: MaintenanceKind, interval_days: int, first_due_days: int | None = None
    ) -> MaintenancePlanPayload:
        row, errors = await attempt(device_fleet.add_plan(device_id, kind, interval_days, first_due_days))
        return MaintenancePlanPayload(plan=MaintenancePlan.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="Work done on a device (by plan or not).")
    async def record_maintenance(
        self,
        info: Info,
        device_id: strawberry.ID,
        kind: MaintenanceKind,
        notes: str | None = None,
        plan_id: strawberry.ID | None = None,
    ) -> MaintenanceRecordPayload:
        row, errors = await attempt(
            device_fleet.record_maintenance(actor_of(info).person_id, device_id, kind, notes, plan_id)
        )
        record = None
        if row is not None:
            record = MaintenanceRecord(
                id=strawberry.ID(str(row.id)),
                device_id=strawberry.ID(str(row.device_id)),
                kind=row.kind,
                done_at=row.done_at,
                notes=row.notes,
            )
        return MaintenanceRecordPayload(record=record, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Shut a gate, a zone with its sub-zones, or (neither given) the whole site.",
    )
    async def lockdown(
        self, info: Info, reason: str, zone_id: strawberry.ID | None = None, gate_id: strawberry.ID | None = None
    ) -> LockdownPayload:
        row, errors = await attempt(
            lockdowns.start(info.context.rt, actor_of(info), "LOCKDOWN", zone_id, gate_id, reason)
        )
        return LockdownPayload(lockdown=Lockdown.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Open every gate of a zone (or the site) and hold them open; nobody enters.",
    )
    async def evacuate(
        self, info: Info, reason: str, zone_id: strawberry.ID | None = None, gate_id: strawberry.ID | None = None
    ) -> LockdownPayload:
        row, errors = await attempt(
            lockdowns.start(info.context.rt, actor_of(info), "EVACUATION", zone_id, gate_id, reason)
        )
        return LockdownPayload(lockdown=Lockdown.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff])
    async def release_lockdown(self, info: Info, id: strawberry.ID) -> LockdownPayload:
        row, errors = await attempt(lockdowns.release(info.context.rt, actor_of(info), id))
        return LockdownPayload(lockdown=Lockdown.of(row) if row else None, errors=errors)
