"""Root mutation fields: the alert workflow (resolvers/alerts/workflow.py)."""

from __future__ import annotations

import strawberry

from resolvers.alerts import workflow
from resolvers.core.models import DeviceAlert as AlertRow
from schema.alerts.types import AlertPayload, DeviceAlert
from schema.core.context import Info, actor_of
from schema.core.payloads import UserError, attempt
from schema.core.permissions import IsGateStaff


def _payload(row: AlertRow | None, errors: list[UserError]) -> AlertPayload:
    return AlertPayload(alert=DeviceAlert.of(row) if row else None, errors=errors)


@strawberry.type
class AlertMutation:
    @strawberry.mutation(
        permission_classes=[IsGateStaff], description="Someone is looking at an OPEN alert: it becomes ACKNOWLEDGED."
    )
    async def acknowledge_alert(self, info: Info, id: strawberry.ID) -> AlertPayload:
        return _payload(*await attempt(workflow.acknowledge(actor_of(info), id)))

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Hand an alert that is not CLOSED to an active guard, security admin or admin (an OPEN one is "
        "acknowledged by the same step).",
    )
    async def assign_alert(self, info: Info, id: strawberry.ID, person_id: strawberry.ID) -> AlertPayload:
        return _payload(*await attempt(workflow.assign(actor_of(info), id, person_id)))

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Close an alert, saying what was done; CONFLICT when it is closed already.",
    )
    async def close_alert(self, info: Info, id: strawberry.ID, note: str) -> AlertPayload:
        return _payload(*await attempt(workflow.close(actor_of(info), id, note)))
