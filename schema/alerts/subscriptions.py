"""Root subscription fields: alerts."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from realtime.messages import DeviceAlertMessage
from resolvers.alerts import log
from schema.alerts.types import ALERT_CURSOR_KIND, DeviceAlert
from schema.core.context import Info
from schema.core.pagination import decode_cursor
from schema.core.permissions import IsGateStaff
from schema.core.streams import Replay, resumed


@strawberry.type
class AlertSubscription:
    @strawberry.subscription(
        permission_classes=[IsGateStaff],
        description="Device alerts as they are raised. With `after` (the `cursor` of the last alert seen), "
        "first the alerts stored after it, then live ones, none twice.",
    )
    async def device_alerts(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume after this alert's `cursor`: at most 1,000 stored alerts are replayed "
                "(beyond that, read the `alerts` query's pages). Without it, live alerts only."
            ),
        ] = None,
    ) -> AsyncGenerator[DeviceAlert, None]:
        async def from_message(message: DeviceAlertMessage) -> DeviceAlert | None:
            return DeviceAlert.of_message(message)

        replay = Replay(log.after, log.more_after_than, lambda row: row.id, "alerts", "alerts", log.newest_id)
        after_id = decode_cursor(ALERT_CURSOR_KIND, after)
        async for alert in resumed(info, DeviceAlertMessage, after_id, replay, DeviceAlert.of, from_message, _id):
            yield alert


def _id(message: DeviceAlertMessage) -> int:
    return message.id
