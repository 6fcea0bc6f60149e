"""Data handling (POLICY 6.1, 7.2): backups missing."""

from __future__ import annotations

from datetime import datetime, timedelta

from resolvers.core.models import BackupRun, GateEvent, Person
from resolvers.ops.backups import last_slot
from resolvers.runtime import Runtime
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source

# How long after its moment a scheduled backup may take to appear (a large dump, a server
# restarted after the moment makes it on start) before its absence is a finding.
GRACE = timedelta(hours=2)
MAX_SLOTS = 400  # a period longer than a year is judged on its last year of slots


@source("backups_missing", "data", "Backups missing")
async def backups_missing(rt: Runtime, period: Period) -> list[Proposal]:
    """With GATEHOUSE_BACKUP_DIR set: each daily moment (GATEHOUSE_BACKUP_AT, site-local) in the
    period, at least GRACE old, after which no good backup of any kind (daily, weekly, manual)
    started before the next day's moment. Without it: a site holding data (people or passages)
    with no good backup at all in the period. One query for the period's runs."""
    settings = rt.settings
    upto = common.judged_at(period) - GRACE
    slots: list[datetime] = []
    s = last_slot(settings, upto) if upto >= period.start else None
    while s is not None and s >= period.start and len(slots) < MAX_SLOTS:
        slots.append(s)
        s = last_slot(settings, s - timedelta(seconds=1))
    slots.reverse()
    since = min([period.start, *slots])
    runs = (
        await BackupRun.filter(started_at__gte=since, started_at__lt=period.end + timedelta(days=1))
        .order_by("started_at", "id")
        .values_list("id", "started_at", "ok", "error")
    )
    out = []
    if settings.backup_dir is None:
        in_period = [r for r in runs if period.start <= r[1] < period.end]
        if any(r[2] for r in in_period) or not (await Person.exists() or await GateEvent.exists()):
            return []
        return [
            Proposal(
                source="backups_missing",
                area="data",
                key="backups_missing:no_schedule",
                summary="no backup directory is set (GATEHOUSE_BACKUP_DIR) and no backup was made in the period",
                subject_type="site",
                evidence={"backupDir": None, "failedRuns": [r[0] for r in in_period]},
            )
        ]
    for slot in slots:
        window_end = last_slot(settings, slot + timedelta(days=1, hours=1))
        window = [r for r in runs if slot <= r[1] < window_end]
        if any(r[2] for r in window):
            continue
        day = common.local_day(rt, slot)
        failed = [r for r in window if not r[2]]
        out.append(
            Proposal(
                source="backups_missing",
                area="data",
                key=f"backups_missing:{day.isoformat()}",
                summary=f"no good backup after the scheduled one of {day} {settings.backup_at}"
                + (f" ({len(failed)} failed)" if failed else ""),
                subject_type="site",
                evidence={
                    "slot": slot.isoformat(),
                    "failedRunIds": [r[0] for r in failed],
                    "lastError": failed[-1][3][:200] if failed else None,
                },
            )
        )
    return out
