"""Root subscription fields: scan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

import strawberry
from graphql.error import GraphQLError

from realtime.bus import SubscriberOverflow
from realtime.messages import GateEventMessage
from resolvers.core.errors import is_id
from schema.core.context import Info
from schema.core.errors import bad_input
from schema.core.permissions import IsGateStaff
from schema.core.streams import still_allowed
from schema.scan.types import GateEvent

log = logging.getLogger("gatehouse.subscriptions")


@strawberry.type
class ScanSubscription:
    @strawberry.subscription(
        permission_classes=[IsGateStaff], description="Every gate event, or those within a zone and its sub-zones."
    )
    async def gate_events(self, info: Info, zone_id: strawberry.ID | None = None) -> AsyncGenerator[GateEvent, None]:
        rt = info.context.rt
        wanted: int | None = None
        if zone_id is not None:
            if not is_id(zone_id) or int(zone_id) not in (await rt.topology.get()).zones:
                raise bad_input("no such zone")
            wanted = int(zone_id)
        last_check = [time.monotonic()]
        try:
            async with rt.bus.receive(GateEventMessage) as messages:
                async for message in messages:
                    await still_allowed(info, last_check)
                    if wanted is not None and message.zone_id not in (await rt.topology.get()).subtree(wanted):
                        continue
                    try:
                        event = GateEvent.of_message(message)
                    except ValueError as exc:  # a value from a newer release: skip it, keep the stream
                        log.warning("gate event %s not shown: %s", message.id, exc)
                        continue
                    # The event renders from the message; loaders serve only fields it does not carry.
                    info.context.fresh_loaders()
                    yield event
        except SubscriberOverflow:
            raise GraphQLError(
                "you fell behind the event stream; subscribe again", extensions={"code": "UNAVAILABLE"}
            ) from None
