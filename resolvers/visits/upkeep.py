"""Visit housekeeping run by every server process: expiry, reminders, overstays, retention.

Each step claims its rows with a conditional update, so several workers running it
at once still remind a host once and raise one alert per overstay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from realtime.messages import VisitReminder
from resolvers.alerts.raising import raise_alert
from resolvers.attendance import retention, summaries
from resolvers.core import clock
from resolvers.core.models import Person, Visit, VisitStatus
from resolvers.runtime import Runtime
from resolvers.visits import visits

log = logging.getLogger("gatehouse.visits")
REMIND_BEFORE = timedelta(minutes=60)


async def remind_pending(rt: Runtime) -> int:
    """Hosts whose visit starts within the hour and is still waiting for their approval."""
    now = clock.now()
    due = await Visit.filter(
        status=VisitStatus.PENDING_APPROVAL,
        reminded_at=None,
        expected_start__lte=now + REMIND_BEFORE,
        expected_end__gt=now,
    )
    sent = 0
    for visit in due:
        if await Visit.filter(id=visit.id, reminded_at=None).update(reminded_at=now):
            rt.bus.send(VisitReminder(host_id=visit.host_id, visit_id=visit.id))
            sent += 1
    return sent


async def alert_overstays(rt: Runtime) -> int:
    now = clock.now()
    raised = 0
    for visit in await Visit.filter(status=VisitStatus.CHECKED_IN, expected_end__lt=now, overstay_alerted_at=None):
        if await Visit.filter(id=visit.id, overstay_alerted_at=None).update(overstay_alerted_at=now):
            await raise_alert(
                rt,
                "overstay",
                f"the visitor of visit #{visit.id} is still inside after the visit ended",
                payload={"visitId": visit.id, "hostId": visit.host_id},
            )
            raised += 1
    return raised


async def anonymise_visit(visit: Visit, now: datetime) -> None:
    """The visitor's personal data on the visit and on their person record goes; the visit, its
    counts and the passages stay (retention below, and an erasure of the visitor, share this)."""
    async with in_transaction():
        label = f"Visitor #{visit.id}"
        await Visit.filter(id=visit.id).update(
            visitor_name=label,
            phone_enc=None,
            phone_hash=None,
            phone_masked=None,
            company="",
            anonymised_at=now,
        )
        if visit.visitor_id is not None:
            await Person.filter(id=visit.visitor_id).update(
                display_name=label,
                gender=None,
                id_number_enc=None,
                id_number_hash=None,
                id_number_masked=None,
                phone_enc=None,
                phone_hash=None,
                phone_masked=None,
            )


async def anonymise_old_visits(rt: Runtime) -> int:
    """Visitors' personal data goes a set number of days after the visit; the events stay."""
    cutoff = clock.now() - timedelta(days=rt.settings.visitor_retention_days)
    old = await Visit.filter(anonymised_at=None, expected_end__lt=cutoff).exclude(status=VisitStatus.CHECKED_IN)
    for visit in old:
        await anonymise_visit(visit, clock.now())
    return len(old)


async def run_once(rt: Runtime) -> None:
    # Housekeeping of the site's day: visits, and the loans that should be back by now.
    from resolvers.items.approvals import escalate_due
    from resolvers.items.flows import remind_overdue

    await remind_overdue(rt)
    await escalate_due(rt)  # approval steps waiting past GATEHOUSE_APPROVAL_ESCALATE_HOURS
    await visits.escalate_emergencies(rt)
    await visits.expire_due_visits()
    await remind_pending(rt)
    await alert_overstays(rt)
    await anonymise_old_visits(rt)
    # Leadership's daily and weekly summaries, once each period has ended (POLICY 6.2).
    await summaries.run_due(rt)
    # Passages, attendance records and audit entries past their retention (README "Retention and
    # erasure"); last, so a purge that fails leaves the rest of the round done.
    await retention.purge(rt)


class VisitUpkeep:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._interval = float(rt.settings.upkeep_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="visit-upkeep")

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
                log.exception("visit upkeep failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)
