"""Root subscription fields: scan.

`gateEvents(after:)` resumes a guard's feed: it subscribes to the bus first (live messages
queue up meanwhile), replays what the log stored after the cursor, then goes live, skipping
what the replay already sent. So a guard whose connection dropped, or who was on a worker that
died between storing an event and publishing it, sees every stored event exactly once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

import strawberry
from graphql.error import GraphQLError

from realtime.bus import SubscriberOverflow
from realtime.messages import GateEventMessage
from resolvers.core.errors import is_id
from resolvers.scan import event_queries
from schema.core.context import Info
from schema.core.errors import bad_input
from schema.core.pagination import decode_cursor
from schema.core.permissions import IsGateStaff
from schema.core.streams import still_allowed
from schema.scan.types import EVENT_CURSOR_KIND, GateEvent

log = logging.getLogger("gatehouse.subscriptions")

# A resume replays at most this many stored events; a guard away longer reads the log's pages.
MAX_REPLAY = 1_000
REPLAY_PAGE = 100


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
        after_id = decode_cursor(EVENT_CURSOR_KIND, after)
        last_check = [time.monotonic()]
        try:
            # Subscribed before the replay reads the log: an event published meanwhile waits in
            # the subscription's queue instead of falling between the replay and the live feed.
            async with rt.bus.receive(GateEventMessage) as messages:
                replayed: set[int] = set()
                if after_id is not None:
                    async for event in _replay(info, after_id, wanted):
                        replayed.add(int(event.id))
                        yield event
                async for message in messages:
                    await still_allowed(info, last_check)
                    if after_id is not None and (message.id <= after_id or message.id in replayed):
                        continue  # the client saw it before it left, or the replay just sent it
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


async def _replay(info: Info, after_id: int, wanted: int | None) -> AsyncIterator[GateEvent]:
    """The events stored after `after_id` (zone-filtered like the live feed), oldest first, in pages."""
    zones = (await info.context.rt.topology.get()).subtree(wanted) if wanted is not None else None
    if await event_queries.more_after_than(after_id, MAX_REPLAY, zone_ids=zones):
        raise bad_input(
            f"more than {MAX_REPLAY} events were stored after that cursor: read the `gateEvents` query's "
            "pages, then subscribe again after the newest"
        )
    last_check = [time.monotonic()]
    cursor = after_id
    while True:
        rows = await event_queries.events_after(cursor, REPLAY_PAGE, zone_ids=zones)
        for row in rows:
            await still_allowed(info, last_check)
            info.context.fresh_loaders()
            yield GateEvent.of_row(row)
        if len(rows) < REPLAY_PAGE:
            return
        cursor = int(rows[-1]["id"])
