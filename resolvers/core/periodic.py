"""A round of background work every so often, in a task of its own (the upkeeps, the fleet's
checks, the backup schedule). A round that fails is logged and the next one runs: one bad row
must not stop reminders, alarms or backups for good."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable


class Periodic:
    def __init__(
        self,
        name: str,
        round_: Callable[[], Awaitable[object]],
        interval: float,
        log: logging.Logger,
        first_delay: float = 0.0,
    ) -> None:
        self.name = name
        self._round = round_
        self._interval = interval
        self._first_delay = first_delay
        self._log = log
        self._task: asyncio.Task[None] | None = None

    def wanted(self) -> bool:
        """Whether this loop has anything to do on this site (a subclass says no when unconfigured)."""
        return True

    async def start(self) -> None:
        if self._task is None and self.wanted():
            self._task = asyncio.create_task(self._loop(), name=self.name.replace(" ", "-"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            started = time.monotonic()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception("%s failed; the next round in %.0f s", self.name, self._interval)
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))
