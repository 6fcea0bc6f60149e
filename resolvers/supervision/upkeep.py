"""Supervision housekeeping, run by the leading worker only (resolvers/core/leadership.py):
periodic inspections opened when their schedule falls due, overdue notices escalated once."""

from __future__ import annotations

import logging

from resolvers.core.periodic import Periodic
from resolvers.runtime import Runtime
from resolvers.supervision import inspections, notices

log = logging.getLogger("gatehouse.supervision")


async def run_once(rt: Runtime) -> tuple[int, int]:
    opened = await inspections.open_due(rt)
    escalated = await notices.escalate_overdue()
    if opened or escalated:
        log.info("supervision: %d periodic inspections opened, %d notices escalated", len(opened), escalated)
    return len(opened), escalated


class SupervisionUpkeep(Periodic):
    """Same interval as the visits' upkeep (GATEHOUSE_UPKEEP_SECONDS): a deadline is days away,
    a round every half minute is plenty and costs two indexed queries."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__("supervision upkeep", lambda: run_once(rt), float(rt.settings.upkeep_seconds), log)
