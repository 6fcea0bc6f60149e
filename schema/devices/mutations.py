"""Root mutation fields: devices."""

from __future__ import annotations

import strawberry

from resolvers.access import sites
from resolvers.core.models import DeviceKind, DeviceStatus, MaintenanceKind
from resolvers.devices import fleet as device_fleet
from resolvers.devices import lockdowns
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import IsGateStaff, IsSiteAdmin
from schema.devices.inputs import RegisterDeviceInput
from schema.devices.types import (
    Device,
    DevicePayload,
    DeviceTarget,
    DeviceTargetPayload,
    Lockdown,
    LockdownPayload,
    MaintenancePlan,
    MaintenancePlanPayload,
    MaintenanceRecord,
    MaintenanceRecordPayload,
    RegisterDevicePayload,
    _device,
)


@strawberry.type
class DeviceMutation:
    @strawberry.mutation(
        permission_classes=[IsSiteAdmin], description="Add a device serving some gates; it starts REGISTERED."
    )
    async def register_device(self, info: Info, input: RegisterDeviceInput) -> RegisterDevicePayload:
        result, errors = await attempt(
            sites.register_device(info.context.rt, input.name, input.kind, list(input.gate_ids))
        )
        if result is None:
            return RegisterDevicePayload(errors=errors)
        device, secret = result
        return RegisterDevicePayload(device=Device.of(device), device_secret=secret)

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Registered → commissioned, once network, configuration and a test scan are done; "
        "a device opens doors only while commissioned or IN_SERVICE (else `device_not_in_service`).",
    )
    async def commission_device(self, info: Info, id: strawberry.ID) -> DevicePayload:
        row, errors = await attempt(device_fleet.commission(info.context.rt, id))
        return DevicePayload(device=_device(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="IN_SERVICE or UNDER_REPAIR (an UNDER_REPAIR device opens nothing, on every server at once).",
    )
    async def set_device_status(self, info: Info, id: strawberry.ID, status: DeviceStatus) -> DevicePayload:
        row, errors = await attempt(device_fleet.set_status(info.context.rt, id, status))
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

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin], description="A new device secret; the old one stops working at once."
    )
    async def rotate_device_secret(self, info: Info, id: strawberry.ID) -> DevicePayload:
        result, errors = await attempt(device_fleet.rotate_secret(info.context.rt, id))
        if result is None:
            return DevicePayload(errors=errors)
        return DevicePayload(device=Device.of(result[0]), device_secret=result[1])

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Change what a kind of device should achieve; a null keeps that figure.",
    )
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

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Plan recurring maintenance of a device.")
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
        return MaintenanceRecordPayload(record=MaintenanceRecord.of(row) if row else None, errors=errors)

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

    @strawberry.mutation(permission_classes=[IsGateStaff], description="End a lockdown or evacuation.")
    async def release_lockdown(self, info: Info, id: strawberry.ID) -> LockdownPayload:
        row, errors = await attempt(lockdowns.release(info.context.rt, actor_of(info), id))
        return LockdownPayload(lockdown=Lockdown.of(row) if row else None, errors=errors)
