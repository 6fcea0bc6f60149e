"""Visit housekeeping, run by the leading server process only (resolvers/core/leadership.py):
expiry, reminders, overstays, retention, escalations, scheduled summaries.

Each step also claims its rows with a conditional update, so the moment the lead changes hands
(the old leader's round cut short, the new leader's first round) still reminds a host once and
raises one alert per overstay.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from realtime.messages import VisitReminder
from resolvers.alerts.raising import raise_alert
from resolvers.attendance import report_files, retention, summaries
from resolvers.core import clock
from resolvers.core.leadership import still_leads
from resolvers.core.models import Notification, Person, PushSubscription, Visit, VisitStatus
from resolvers.core.periodic import Periodic
from resolvers.faces import templates as face_templates
from resolvers.notifications import journeys
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
        if not still_leads():
            break
        async with in_transaction() as conn:
            claimed = await Visit.filter(id=visit.id, reminded_at=None).update(reminded_at=now)
            if claimed:  # the outbox row commits with the claim: one reminder per visit
                await journeys.visit_reminder(rt, visit, conn)
        if claimed:
            rt.bus.send(VisitReminder(host_id=visit.host_id, visit_id=visit.id))
            sent += 1
    return sent


async def alert_overstays(rt: Runtime) -> int:
    now = clock.now()
    raised = 0
    for visit in await Visit.filter(status=VisitStatus.CHECKED_IN, expected_end__lt=now, overstay_alerted_at=None):
        if not still_leads():
            break
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
        # The invitation's outbox rows hold the visitor's address (and, until sent, their name).
        await Notification.filter(cause=f"visit:{visit.id}").delete()
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
            # A browser's push address says which phone the visitor used (as an erasure does).
            await PushSubscription.filter(person_id=visit.visitor_id).delete()


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

    steps: list[Callable[[Runtime], Awaitable[object]]] = [
        remind_overdue,
        escalate_due,  # approval steps waiting past GATEHOUSE_APPROVAL_ESCALATE_HOURS
        visits.escalate_emergencies,
        lambda rt: visits.expire_due_visits(),
        face_templates.purge_visitors_between_visits,  # a face pass ends with the visit (issue 15)
        remind_pending,
        alert_overstays,
        anonymise_old_visits,
        # Leadership's daily and weekly summaries, once each period has ended (POLICY 6.2).
        lambda rt: summaries.run_due(rt, report_files.scheduled_pdf),
        # Passages, attendance records and audit entries past their retention (README "Retention and
        # erasure"); last, so a purge that fails leaves the rest of the round done.
        retention.purge,
    ]
    for step in steps:
        if not still_leads():  # fenced: another worker leads now and does the rest
            return
        await step(rt)


class VisitUpkeep(Periodic):
    """The leading worker's housekeeping round (run_once), every GATEHOUSE_UPKEEP_SECONDS."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__("visit upkeep", lambda: run_once(rt), float(rt.settings.upkeep_seconds), log)
