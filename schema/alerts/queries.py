"""Root query fields: alerts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.alerts import log, workflow
from schema.alerts.types import ALERT_CURSOR_KIND, DeviceAlert
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.permissions import (
    IsEventReader,
    IsGateStaff,
)
from schema.people.types import Person


@strawberry.type
class AlertQuery:
    # A plain list of the newest `first`: the guard app's DeviceAlertLog document reads it so.
    # The whole log, paged, is `alerts`.
    @strawberry.field(permission_classes=[IsGateStaff], description="The newest device alerts, newest first.")
    async def device_alerts(self, first: int = 50) -> list[DeviceAlert]:
        first = check_first(first)
        return [DeviceAlert.of(r) for r in await log.recent(first)]

    @strawberry.field(
        permission_classes=[IsGateStaff],
        description="Who may be assigned an alert (assignAlert): active guards, security admins and admins.",
    )
    async def alert_assignees(self) -> list[Person]:
        return [Person.of(row) for row in await workflow.assignees()]

    @strawberry.field(
        permission_classes=[IsEventReader],
        description="Alerts for the supervision team (anomalies, doors, devices), newest first.",
    )
    async def alerts(
        self, first: int = 50, after: str | None = None, kind: str | None = None, since: datetime | None = None
    ) -> Connection[DeviceAlert]:
        first = check_first(first)
        rows = await log.page(first, decode_cursor(ALERT_CURSOR_KIND, after), kind=kind, since=since)
        return page_of(rows, first, ALERT_CURSOR_KIND, DeviceAlert.of, after=after)
