"""Root query fields: devices."""

from __future__ import annotations

import strawberry

from resolvers.core.errors import is_id
from resolvers.core.models import DeviceKind
from resolvers.devices import fleet as device_fleet
from resolvers.devices import lockdowns
from schema.core.pagination import Connection, check_first, decode_cursor, empty_page, page_of
from schema.core.payloads import attempt
from schema.core.permissions import IsGateStaff
from schema.devices.types import Device, DeviceHealth, DeviceTarget, Lockdown, MaintenancePlan


@strawberry.type
class DeviceQuery:
    # A plain list: the console's Site document reads it so, and a site's fleet is tens of devices.
    @strawberry.field(permission_classes=[IsGateStaff], description="Every device, retired ones too.")
    async def devices(self) -> list[Device]:
        return [Device.of(r) for r in await device_fleet.all_devices()]

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

    # A plain list: one target per kind of device.
    @strawberry.field(permission_classes=[IsGateStaff], description="The targets of each kind of device.")
    async def device_targets(self) -> list[DeviceTarget]:
        return [DeviceTarget.of(await device_fleet.target_for(kind)) for kind in DeviceKind]

    @strawberry.field(permission_classes=[IsGateStaff], description="Maintenance plans, of one device if given, by id.")
    async def maintenance_plans(
        self, device_id: strawberry.ID | None = None, first: int = 50, after: str | None = None
    ) -> Connection[MaintenancePlan]:
        first = check_first(first)
        cursor = decode_cursor("plan", after)
        if device_id is not None and not is_id(device_id):
            return empty_page()
        device = int(device_id) if device_id is not None else None
        rows = await device_fleet.plans_page(device, first, cursor)
        return page_of(rows, first, "plan", MaintenancePlan.of, after=after)

    @strawberry.field(permission_classes=[IsGateStaff], description="Plans whose next date has passed, by id.")
    async def overdue_maintenance(self, first: int = 50, after: str | None = None) -> Connection[MaintenancePlan]:
        first = check_first(first)
        rows = await device_fleet.overdue_page(first, decode_cursor("overdue", after))
        return page_of(rows, first, "overdue", MaintenancePlan.of, after=after)

    # A plain list: only those in force, one of each mode at most per gate, per zone and for the site.
    @strawberry.field(permission_classes=[IsGateStaff], description="Lockdowns and evacuations in force.")
    async def lockdowns(self) -> list[Lockdown]:
        return [Lockdown.of(r) for r in await lockdowns.active()]
