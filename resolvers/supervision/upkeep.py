"""Supervision housekeeping, run by the leading worker only (resolvers/core/leadership.py):
periodic inspections opened when their schedule falls due, overdue notices escalated once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from resolvers.runtime import Runtime
from resolvers.supervision import inspections, notices

log = logging.getLogger("gatehouse.supervision")


async def run_once(rt: Runtime) -> tuple[int, int]:
    opened = await inspections.open_due(rt)
    escalated = await notices.escalate_overdue()
    if opened or escalated:
        log.info("supervision: %d periodic inspections opened, %d notices escalated", len(opened), escalated)
    return len(opened), escalated


class SupervisionUpkeep:
    """Same interval as the visits' upkeep (GATEHOUSE_UPKEEP_SECONDS): a deadline is days away,
    a round every half minute is plenty and costs two indexed queries."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._interval = float(rt.settings.upkeep_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="supervision-upkeep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await run_once(self._rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("supervision upkeep failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)
