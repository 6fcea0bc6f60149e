"""Root subscription fields: scan. `gateEvents(after:)` resumes a guard's feed
(schema/core/streams.py `resumed`); over graphql-transport-ws a live event the message carries is
pushed as bytes rendered once for every guard who asked alike (schema/scan/shared_render.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from realtime.bus import SubscriberOverflow
from realtime.messages import GateEventMessage
from resolvers.core.errors import is_id
from resolvers.scan import event_queries
from schema.core.context import Info
from schema.core.errors import bad_input
from schema.core.pagination import decode_cursor
from schema.core.permissions import IsGateStaff
from schema.core.streams import Replay, resumed
from schema.scan.shared_render import LIVE_PUSH, live_payload, operation_key, ready_payload
from schema.scan.types import EVENT_CURSOR_KIND, GateEvent

log = logging.getLogger("gatehouse.subscriptions")


@strawberry.type
class ScanSubscription:
    @strawberry.subscription(
        permission_classes=[IsGateStaff],
        description="Every gate event, or those within a zone and its sub-zones. With `after` (the `cursor` "
        "of the last event seen), first the events stored after it, then live ones, none twice.",
    )
    async def gate_events(
        self,
        info: Info,
        zone_id: strawberry.ID | None = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume after this event's `cursor`: at most 1,000 stored events are replayed "
                "(beyond that, read the `gateEvents` query's pages). Without it, live events only."
            ),
        ] = None,
    ) -> AsyncGenerator[GateEvent, None]:
        rt = info.context.rt
        wanted: int | None = None
        if zone_id is not None:
            if not is_id(zone_id) or int(zone_id) not in (await rt.topology.get()).zones:
                raise bad_input("no such zone")
            wanted = int(zone_id)
        zones = (await rt.topology.get()).subtree(wanted) if wanted is not None else None

        async def rows_after(after_id: int, limit: int) -> list[dict[str, Any]]:
            return await event_queries.events_after(after_id, limit, zone_ids=zones)

        async def more_than(after_id: int, limit: int) -> bool:
            return await event_queries.more_after_than(after_id, limit, zone_ids=zones)

        push = LIVE_PUSH.get()
        key = operation_key(info._raw_info) if push is not None else None

        async def from_message(message: GateEventMessage) -> GateEvent | None:
            if wanted is not None and message.zone_id not in (await rt.topology.get()).subtree(wanted):
                return None
            if push is not None and key is not None:
                payload = ready_payload(key, message.id)
                if payload is None:
                    payload = await live_payload(key, info._raw_info, message)
                if payload is not None:
                    if not push.push(payload):
                        raise SubscriberOverflow("gateEvents")  # ends the stream as a full queue does
                    return None  # sent: nothing for Strawberry to render
            try:
                # The event renders from the message; loaders serve only fields it does not carry.
                return GateEvent.of_message(message)
            except ValueError as exc:  # a value from a newer release: skip it, keep the stream
                log.warning("gate event %s not shown: %s", message.id, exc)
                return None

        replay = Replay(
            rows_after, more_than, lambda row: int(row["id"]), "events", "gateEvents", event_queries.newest_id
        )
        after_id = decode_cursor(EVENT_CURSOR_KIND, after)
        async for event in resumed(info, GateEventMessage, after_id, replay, GateEvent.of_row, from_message, _id):
            yield event


def _id(message: GateEventMessage) -> int:
    return message.id
