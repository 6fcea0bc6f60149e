"""Root query fields: alerts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models as m
from schema.alerts.types import DeviceAlert
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.permissions import (
    IsEventReader,
    IsGateStaff,
)


@strawberry.type
class AlertQuery:
    @strawberry.field(permission_classes=[IsGateStaff])
    async def device_alerts(self, first: int = 50) -> list[DeviceAlert]:
        first = check_first(first)
        rows = await m.DeviceAlert.all().order_by("-id").limit(first)
        return [DeviceAlert.of(r) for r in rows]

    @strawberry.field(
        permission_classes=[IsEventReader],
        description="Alerts for the supervision team (anomalies, doors, devices), newest first.",
    )
    async def alerts(
        self, first: int = 50, after: str | None = None, kind: str | None = None, since: datetime | None = None
    ) -> Connection[DeviceAlert]:
        first = check_first(first)
        query = m.DeviceAlert.all()
        if kind:
            query = query.filter(kind=kind)
        if since is not None:
            query = query.filter(at__gte=since)
        cursor = decode_cursor("alert", after)
        if cursor is not None:
            query = query.filter(id__lt=cursor)
        rows = await query.order_by("-id").limit(first + 1)
        return page_of(rows, first, "alert", DeviceAlert.of)
