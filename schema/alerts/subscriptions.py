"""Root subscription fields: alerts."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from resolvers.alerts import raising as alerts
from schema.alerts.types import DeviceAlert
from schema.core.context import Info
from schema.core.permissions import IsGateStaff
from schema.core.streams import still_allowed


@strawberry.type
class AlertSubscription:
    @strawberry.subscription(permission_classes=[IsGateStaff])
    async def device_alerts(self, info: Info) -> AsyncGenerator[DeviceAlert, None]:
        last_check = [time.monotonic()]
        async with info.context.rt.bus.subscribe(alerts.CHANNEL) as sub:
            async for message in sub:
                await still_allowed(info, last_check)
                yield DeviceAlert(
                    id=strawberry.ID(str(message["id"])),
                    at=datetime.fromisoformat(message["at"]),
                    kind=message["kind"],
                    message=message["message"],
                    device_id=strawberry.ID(str(message["deviceId"])) if message["deviceId"] else None,
                    gate_id=strawberry.ID(str(message["gateId"])) if message["gateId"] else None,
                )
