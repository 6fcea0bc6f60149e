"""Gates first (issue 11): while gates are scanning, heavy GraphQL operations take turns and pause.

One process decides scans and answers GraphQL on the same event loop. A heavy query (a page of 100
people with their departments, heads, passes, hosted visits and access log: cost about 9,000 of
limits.MAX_COST's 10,000) completes its list items in one turn of the loop: about 40 ms of CPU during
which no scan is decided. Sent in a loop by one admin, it kept the other gates' p99 over 100 ms
(bench/scans_under_abuse.py); cheap operations never do.

So while a gate scanned within the last GATES_ACTIVE_SECONDS, operations costing more than HEAVY_COST
run one at a time, each followed by a pause of (1/DUTY - 1) times its own duration (at most
MAX_PAUSE): heavy work takes at most DUTY of the process's time, whoever sends it and from however
many sessions. A heavy operation that finds MAX_WAITING others waiting for their turn, or would wait
longer than MAX_WAIT, is refused (RATE_LIMITED, limit "heavy"). Cheap operations, and every operation
while no gate scans, run exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from graphql import GraphQLError

from api.admission import refusal_error
from devices.endpoint import gates_scanning
from resolvers.core.errors import ErrorCode

# Above every document the apps ship (the costliest, People at first: 100, is 2,700): they are never paced.
HEAVY_COST = 3_000  # limits.cost above which an operation is paced
# One heavy operation's turn (~40 ms) delays the ~12 scans that arrive meanwhile at 300 scans/s: for
# the gates' p99 to stay under 50 ms, fewer than 1% of scans may meet one, so heavy work gets about
# 1% of the time (measured on PostgreSQL, quiet machine: at 5% the other gates' p99 was 75 ms).
DUTY = 0.01  # the share of the process's time heavy operations may take while gates scan
MAX_PAUSE = 5.0  # seconds: a pause after one slow operation never grows past this
MAX_WAIT = MAX_PAUSE + 1.0  # seconds a heavy operation may wait for its turn before it is refused
MAX_WAITING = 4  # heavy operations waiting for their turn at once; more are refused
GATES_ACTIVE_SECONDS = 5.0  # a scan within this long makes the gates "busy"


class Busy(Exception):
    """No turn for this heavy operation now: refuse it."""

    def error(self) -> GraphQLError:
        return refusal_error(
            ErrorCode.RATE_LIMITED,
            f"heavy operations take turns while gates are scanning ({self}): try again shortly",
            "heavy",
        )


class HeavyPacer:
    """Turns for heavy operations: one at a time, with a pause after each (see the module doc)."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self._free_at = 0.0  # time.monotonic() before which the next turn does not start
        self._waiting = 0

    async def take(self) -> float:
        """Wait for a turn (raises Busy instead when the queue is full or the wait too long); returns
        its start, to hand back to `give_back` when the operation is done."""
        if self._waiting >= MAX_WAITING:
            raise Busy(f"{self._waiting} heavy operations are already waiting")
        self._waiting += 1
        try:
            async with asyncio.timeout(MAX_WAIT):
                await self._turn.acquire()
                try:
                    delay = self._free_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                except BaseException:
                    self._turn.release()
                    raise
        except TimeoutError:
            raise Busy(f"no turn within {MAX_WAIT:g} s") from None
        finally:
            self._waiting -= 1
        return time.monotonic()

    @contextlib.asynccontextmanager
    async def turn(self, cost: int) -> AsyncIterator[None]:
        """Run an operation of this cost: at once, or in its turn when it is heavy and gates are
        scanning (raises Busy when there is no turn for it). One pacer per worker, for HTTP and
        the WebSocket alike, so moving heavy work to the socket gains nothing."""
        if cost <= HEAVY_COST or not gates_scanning(GATES_ACTIVE_SECONDS):
            yield
            return
        started = await self.take()
        try:
            yield
        finally:
            self.give_back(started)

    def give_back(self, started: float) -> None:
        now = time.monotonic()
        self._free_at = now + min(MAX_PAUSE, (now - started) * (1 / DUTY - 1))
        self._turn.release()
