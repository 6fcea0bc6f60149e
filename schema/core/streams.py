"""What every subscription does with the bus: keep the caller's messages, re-check the caller
now and then (a revoked session stops receiving), and give each pushed item fresh loaders."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from realtime.messages import M
from resolvers.people import sessions
from schema.core.context import Info
from schema.core.errors import unauthenticated

RECHECK_SECONDS = 5.0


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
