"""GraphQL object types and mutation payloads: alerts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from realtime.messages import DeviceAlertMessage
from resolvers.core import models
from schema.access.types import Gate
from schema.core.context import Info
from schema.core.pagination import encode_cursor
from schema.devices.types import Device

# The kind an alert's cursor carries: the same for the `alerts` pages and the live stream.
ALERT_CURSOR_KIND = "alert"


@strawberry.type(description="Something a guard or technician must look at: a device, a door, an anomaly.")
class DeviceAlert:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    at: datetime = strawberry.field(description="When it was raised.")
    kind: str = strawberry.field(description="What happened, e.g. `offline`, `forced`, `gate_unknown`.")
    message: str = strawberry.field(description="For people.")
    # The raw ids stay beside the objects: the guard app's documents read them.
    device_id: strawberry.ID | None = strawberry.field(description="The device's id; null when none is concerned.")
    gate_id: strawberry.ID | None = strawberry.field(description="The gate's id; null when none is concerned.")

    @classmethod
    def of(cls, row: models.DeviceAlert) -> DeviceAlert:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            kind=row.kind,
            message=row.message,
            device_id=strawberry.ID(str(row.device_id)) if row.device_id else None,
            gate_id=strawberry.ID(str(row.gate_id)) if row.gate_id else None,
        )

    @classmethod
    def of_message(cls, message: DeviceAlertMessage) -> DeviceAlert:
        """From the `device_alerts` bus message (resolvers/alerts/raising.py)."""
        return cls(
            id=strawberry.ID(str(message.id)),
            at=message.at,
            kind=message.kind,
            message=message.message,
            device_id=strawberry.ID(str(message.device_id)) if message.device_id else None,
            gate_id=strawberry.ID(str(message.gate_id)) if message.gate_id else None,
        )

    @strawberry.field(
        description="This alert's place in the order alerts were stored: pass the last one seen as `after` "
        "to the `deviceAlerts` subscription (or to `alerts`) to resume after it."
    )
    def cursor(self) -> str:
        return encode_cursor(ALERT_CURSOR_KIND, int(self.id))

    @strawberry.field(description="The device concerned; null when none is.")
    async def device(self, info: Info) -> Device | None:
        if self.device_id is None:
            return None
        row = await info.context.loaders.device.load(int(self.device_id))
        return Device.of(row) if row else None

    @strawberry.field(description="The gate concerned; null when none is (or it named a gate the site lacks).")
    async def gate(self, info: Info) -> Gate | None:
        if self.gate_id is None:
            return None
        row = await info.context.loaders.gate.load(int(self.gate_id))
        return Gate.of(row) if row else None
