"""What every subscription does with the bus: keep the caller's messages, re-check the caller
now and then (a revoked session stops receiving), and give each pushed item fresh loaders.

`resumed` is the one way a stream picks up after a cursor: subscribe first (live messages wait
in the queue), replay what the log stored after the cursor, then go live skipping what the
replay sent. A subscriber whose connection dropped, or who was on a worker that died between
storing and publishing, so sees every stored item exactly once.

Items go out in id order with no gap, live ones too: the logs hand out ids in commit order
(resolvers/core/commit_order.py), so when the message for id N arrives, every row below N
that will ever exist is stored. Messages from several workers can still arrive out of order
(each worker publishes after its own commit), or not at all (a worker died, or without Redis
another process's never come): a message that is not the next id after the last one handled
makes the stream read what lies between from the log first, and a late message for an id
already sent is skipped. So the last cursor a client saw is always a sound place to resume."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from graphql.error import GraphQLError

from realtime.bus import SubscriberOverflow
from realtime.messages import M
from resolvers.people import sessions
from schema.core.context import Info
from schema.core.errors import bad_input, unauthenticated

RECHECK_SECONDS = 5.0
# A resume replays at most this many stored items; a subscriber away longer reads the query's pages.
MAX_REPLAY = 1_000
REPLAY_PAGE = 100

R = TypeVar("R")
T = TypeVar("T")


async def still_allowed(info: Info, last_check: list[float]) -> None:
    """Re-check the subscriber now and then: a revoked guard stops receiving events."""
    now = time.monotonic()
    if now - last_check[0] < RECHECK_SECONDS:
        return
    last_check[0] = now
    actor = info.context.actor
    if actor is None or not await sessions.session_alive(actor):
        raise unauthenticated("your session has ended")


async def messages_for(info: Info, kind: type[M], wanted: Callable[[M], bool] = lambda _: True) -> AsyncIterator[M]:
    """The caller's messages of `kind`'s channel, decoded (a malformed one never reaches here)."""
    last_check = [time.monotonic()]
    async with info.context.rt.bus.receive(kind) as messages:
        async for message in messages:
            if not wanted(message):
                continue
            await still_allowed(info, last_check)
            info.context.fresh_loaders()
            yield message


@dataclass(frozen=True)
class Replay(Generic[R]):
    """Where a resumed stream finds what was stored after a cursor."""

    rows_after: Callable[[int, int], Awaitable[Sequence[R]]]  # (after id, limit) -> rows, oldest first
    more_than: Callable[[int, int], Awaitable[bool]]  # (after id, n) -> more than n stored after it?
    row_id: Callable[[R], int]
    noun: str  # what the stream carries, for the message when the gap is too long
    pages: str  # the query to page instead then
    newest: Callable[[], Awaitable[int]]  # the newest stored id (0 when none): where a live-only stream starts


async def _stored_after(replay: Replay[R], after_id: int) -> AsyncIterator[R]:
    cursor = after_id
    while True:
        rows = await replay.rows_after(cursor, REPLAY_PAGE)
        for row in rows:
            yield row
        if len(rows) < REPLAY_PAGE:
            return
        cursor = replay.row_id(rows[-1])


async def resumed(
    info: Info,
    kind: type[M],
    after_id: int | None,
    replay: Replay[R],
    from_row: Callable[[R], T],
    from_message: Callable[[M], Awaitable[T | None]],
    message_id: Callable[[M], int],
) -> AsyncIterator[T]:
    """Stored items after `after_id` (none without a cursor), then live ones; `from_message`
    answers None for a message this subscriber does not get."""
    last_check = [time.monotonic()]
    try:
        # Without a cursor the stream starts at what is stored now (read before subscribing: an
        # item stored in between comes as the gap before the first live message).
        position = after_id if after_id is not None else await replay.newest()
        async with info.context.rt.bus.receive(kind) as messages:
            # Every item with an id up to `position` was sent, or is not this subscriber's.
            if after_id is not None and await replay.more_than(after_id, MAX_REPLAY):
                raise bad_input(
                    f"more than {MAX_REPLAY} {replay.noun} were stored after that cursor: read the "
                    f"`{replay.pages}` query's pages, then subscribe again after the newest"
                )
            if after_id is not None:
                async for row in _stored_after(replay, position):
                    await still_allowed(info, last_check)
                    info.context.fresh_loaders()
                    position = max(position, replay.row_id(row))
                    yield from_row(row)
            async for message in messages:
                if time.monotonic() - last_check[0] >= RECHECK_SECONDS:  # no coroutine per message (issue 13)
                    await still_allowed(info, last_check)
                mid = message_id(message)
                if mid <= position:
                    continue  # the client saw it before it left, or the replay or a gap's read sent it
                if mid > position + 1:
                    # Ids between are stored (commit order) and their messages are late, lost, or
                    # were rolled back: read them from the log so nothing is sent out of order.
                    async for row in _stored_after(replay, position):
                        info.context.fresh_loaders()
                        position = max(position, replay.row_id(row))
                        yield from_row(row)
                    if mid <= position:
                        continue
                position = mid
                item = await from_message(message)
                if item is None:
                    continue
                info.context.fresh_loaders()
                yield item
    except SubscriberOverflow:
        raise GraphQLError("you fell behind the stream; subscribe again", extensions={"code": "UNAVAILABLE"}) from None
