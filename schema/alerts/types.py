"""GraphQL object types and mutation payloads: alerts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from realtime.messages import DeviceAlertMessage
from resolvers.core import models
from schema.access.types import Gate
from schema.core.context import Info
from schema.core.pagination import encode_cursor
from schema.core.payloads import UserError
from schema.devices.types import Device
from schema.people.types import Person

# The kind an alert's cursor carries: the same for the `alerts` pages and the live stream.
ALERT_CURSOR_KIND = "alert"


@strawberry.enum(description="Where an alert is in the guards' workflow.")
class AlertStatus(Enum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    CLOSED = "CLOSED"


async def _person(info: Info, person_id: int | None) -> Person | None:
    row = await info.context.loaders.person.load(person_id) if person_id is not None else None
    return Person.of(row) if row else None


@strawberry.type(description="Something a guard or technician must look at: a device, a door, an anomaly.")
class DeviceAlert:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    at: datetime = strawberry.field(description="When it was raised.")
    kind: str = strawberry.field(description="What happened, e.g. `offline`, `forced`, `gate_unknown`.")
    message: str = strawberry.field(description="For people.")
    # The raw ids stay beside the objects: the guard app's documents read them.
    device_id: strawberry.ID | None = strawberry.field(description="The device's id; null when none is concerned.")
    gate_id: strawberry.ID | None = strawberry.field(description="The gate's id; null when none is concerned.")
    # The workflow (acknowledgeAlert, assignAlert, closeAlert); a live alert has just been raised.
    status: AlertStatus = strawberry.field(
        default=AlertStatus.OPEN, description="OPEN until acknowledged (or assigned); CLOSED is final."
    )
    acknowledged_at: datetime | None = strawberry.field(default=None, description="When; null while OPEN.")
    assigned_at: datetime | None = strawberry.field(default=None, description="When it was last assigned.")
    closed_at: datetime | None = strawberry.field(default=None, description="When it was closed.")
    close_note: str | None = strawberry.field(default=None, description="What was done, as the closer wrote it.")
    acknowledged_by_id: strawberry.Private[int | None] = None
    assignee_id: strawberry.Private[int | None] = None
    assigned_by_id: strawberry.Private[int | None] = None
    closed_by_id: strawberry.Private[int | None] = None

    @classmethod
    def of(cls, row: models.DeviceAlert) -> DeviceAlert:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            kind=row.kind,
            message=row.message,
            device_id=strawberry.ID(str(row.device_id)) if row.device_id else None,
            gate_id=strawberry.ID(str(row.gate_id)) if row.gate_id else None,
            status=AlertStatus(row.status),
            acknowledged_at=row.acknowledged_at,
            assigned_at=row.assigned_at,
            closed_at=row.resolved_at,
            close_note=row.close_note or None,
            acknowledged_by_id=row.acknowledged_by_id,
            assignee_id=row.assignee_id,
            assigned_by_id=row.assigned_by_id,
            closed_by_id=row.closed_by_id,
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

    @strawberry.field(description="Who acknowledged it; null while OPEN.")
    async def acknowledged_by(self, info: Info) -> Person | None:
        return await _person(info, self.acknowledged_by_id)

    @strawberry.field(description="Whom it is assigned to; null when nobody is.")
    async def assignee(self, info: Info) -> Person | None:
        return await _person(info, self.assignee_id)

    @strawberry.field(description="Who assigned it last; null when nobody did.")
    async def assigned_by(self, info: Info) -> Person | None:
        return await _person(info, self.assigned_by_id)

    @strawberry.field(description="Who closed it; null while it is not CLOSED.")
    async def closed_by(self, info: Info) -> Person | None:
        return await _person(info, self.closed_by_id)


@strawberry.type(description="The answer to acknowledgeAlert, assignAlert and closeAlert.")
class AlertPayload:
    alert: DeviceAlert | None = strawberry.field(default=None, description="The alert after the step; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was done (NOT_FOUND, CONFLICT for a closed alert, ...)."
    )
