"""When CPython's garbage collector runs in a server that holds thousands of gate connections.

A collection holds the event loop for as long as it takes to walk its generation, and each object
walked costs cache misses in a heap of hundreds of MiB (10,000 connections: ~480,000 objects that
live for hours). Measured with a loop-lag probe on the campus bench (issue 13): young collections
at 20,000 objects took 40-50 ms each, and every 21st young collection walked a middle generation
of ~480,000 survivors for 0.2-0.5 s; those pauses were the scan p99 of 0.3-1.5 s.

So the young generation is kept small (a pause of a few ms), its survivors go to the old
generation at the next collection (the middle one never grows), and the old generation, whose
full walk is the longest pause of all, is never collected by allocation counts but here, when no gate
has scanned for a moment, at most every QUIET_EVERY seconds and at least every LATEST seconds.
Objects freed by their reference count (nearly all) never wait for any of this; only reference
cycles among long-lived objects (a closed connection's) wait for the next quiet moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("gatehouse.gc")

# Young-generation allocations (net of frees) before a collection; then 0: every other collection
# takes the middle generation too, so a survivor is walked at most twice before it is old (at 20
# young collections per middle one, a middle collection walked ~480,000 objects); the old
# generation's count is never reached (see above).
THRESHOLDS = (1_000, 0, 1_000_000_000)
QUIET_EVERY = 600.0  # seconds between full collections when the gates give a quiet moment
LATEST = 3600.0  # a full collection even if they never do
POLL = 5.0


class QuietCollector:
    """Full collections at quiet moments (`quiet()` true), started and stopped with the app."""

    def __init__(self, quiet: Callable[[], bool]) -> None:
        self._quiet = quiet
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # Everything imported and loaded: frozen, so no collection walks it again.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        self._task = asyncio.create_task(self._loop(), name="quiet-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(POLL)
            waited = time.monotonic() - last
            if waited >= LATEST or (waited >= QUIET_EVERY and self._quiet()):
                started = time.perf_counter()
                found = gc.collect(2)
                last = time.monotonic()
                took = 1000 * (time.perf_counter() - started)
                log.info("full garbage collection: %d unreachable objects, %.0f ms", found, took)
