"""Root query fields: devices."""

from __future__ import annotations

import strawberry

from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.core.models import DeviceKind
from resolvers.devices import fleet as device_fleet
from resolvers.devices import lockdowns
from schema.core.payloads import attempt
from schema.core.permissions import IsGateStaff
from schema.devices.types import Device, DeviceHealth, DeviceTarget, Lockdown, MaintenancePlan


@strawberry.type
class DeviceQuery:
    @strawberry.field(permission_classes=[IsGateStaff])
    async def devices(self) -> list[Device]:
        return [Device.of(r) for r in await m.Device.all().order_by("id")]

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
