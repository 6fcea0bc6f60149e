"""Root subscription fields: alerts."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql.error import GraphQLError

from realtime.bus import SubscriberOverflow
from realtime.messages import DeviceAlertMessage
from resolvers.alerts import log
from schema.alerts.types import ALERT_CURSOR_KIND, DeviceAlert
from schema.core.context import Info
from schema.core.errors import bad_input
from schema.core.pagination import decode_cursor
from schema.core.permissions import IsGateStaff
from schema.core.streams import messages_for, still_allowed

# As for gate events (schema/scan/subscriptions.py): a bounded replay, read in pages.
MAX_REPLAY = 1_000
REPLAY_PAGE = 100


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
        after_id = decode_cursor(ALERT_CURSOR_KIND, after)
        if after_id is None:
            async for message in messages_for(info, DeviceAlertMessage):
                yield DeviceAlert.of_message(message)
            return
        last_check = [time.monotonic()]
        try:
            # Subscribed before the log is read: an alert raised meanwhile waits in the queue.
            async with info.context.rt.bus.receive(DeviceAlertMessage) as messages:
                if await log.more_after_than(after_id, MAX_REPLAY):
                    raise bad_input(
                        f"more than {MAX_REPLAY} alerts were stored after that cursor: read the `alerts` "
                        "query's pages, then subscribe again after the newest"
                    )
                replayed: set[int] = set()
                cursor = after_id
                while True:
                    rows = await log.after(cursor, REPLAY_PAGE)
                    for row in rows:
                        await still_allowed(info, last_check)
                        info.context.fresh_loaders()
                        replayed.add(row.id)
                        yield DeviceAlert.of(row)
                    if len(rows) < REPLAY_PAGE:
                        break
                    cursor = rows[-1].id
                async for message in messages:
                    if message.id <= after_id or message.id in replayed:
                        continue  # the client saw it before it left, or the replay just sent it
                    await still_allowed(info, last_check)
                    info.context.fresh_loaders()
                    yield DeviceAlert.of_message(message)
        except SubscriberOverflow:
            raise GraphQLError(
                "you fell behind the alert stream; subscribe again", extensions={"code": "UNAVAILABLE"}
            ) from None
