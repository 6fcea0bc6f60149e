"""Root subscription fields: alerts."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from realtime.messages import DeviceAlertMessage
from schema.alerts.types import DeviceAlert
from schema.core.context import Info
from schema.core.permissions import IsGateStaff
from schema.core.streams import messages_for


@strawberry.type
class AlertSubscription:
    @strawberry.subscription(permission_classes=[IsGateStaff], description="Device alerts as they are raised.")
    async def device_alerts(self, info: Info) -> AsyncGenerator[DeviceAlert, None]:
        async for message in messages_for(info, DeviceAlertMessage):
            yield DeviceAlert.of_message(message)
