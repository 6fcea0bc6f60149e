"""Retention (README "Retention and erasure"): passages, attendance records and audit entries
are deleted once older than GATEHOUSE_RETENTION_PASSAGE_DAYS, _ATTENDANCE_DAYS and _AUDIT_DAYS
(each at least its legal minimum, resolvers/core/settings.py). The upkeep runs `purge`.

Attendance outlives the passages it is made of: before a day's passages go, every employee's
day is summed up (`day_tallies.day_tallies`, the same query the reports run) and stored in
AttendanceDayTally, and a mark says up to which day; attendance reads stored days before the
mark and passages from it on, so a report over a kept period gives the same counts after a
purge as before. Passages are deleted only for days wholly before the mark (a passage belongs to
an attendance day at most one day from its local date, `Shift.day_begins`).

Rows go oldest first by id, a small batch per statement (each its own short transaction), so
the scan path's writes never wait long. Walking by id (the primary key) instead of by time
needs no index on `at` (one more write per scan): the walk stops at the first batch with
nothing old enough, so a row uploaded late with an old time goes when its neighbours by id do.
Each purge that deleted anything is written to the audit log: how many rows, up to when.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from resolvers.attendance import attendance, day_tallies
from resolvers.core import clock
from resolvers.core.models import (
    AttendanceCorrection,
    AttendanceDayTally,
    AuditEntry,
    Decision,
    GateEvent,
    Person,
    PersonKind,
    RetentionMark,
)
from resolvers.people import audit
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.retention")

BATCH = 500
TALLY_DAYS = 31  # attendance days summed up per query when catching up


@dataclass(frozen=True)
class Purged:
    passages: int
    passages_before: datetime
    attendance: int
    attendance_before: date
    audit: int
    audit_before: datetime

    @property
    def any(self) -> bool:
        return bool(self.passages or self.attendance or self.audit)

    def detail(self) -> dict[str, Any]:
        return {
            "passages": {"rows": self.passages, "before": self.passages_before},
            "attendance": {"rows": self.attendance, "before": self.attendance_before},
            "audit": {"rows": self.audit, "before": self.audit_before},
        }


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


async def _delete_oldest(model: type[Model], field: str, before: datetime | date) -> int:
    """Rows whose `field` is before `before`, oldest id first, BATCH per statement. A batch the
    database refuses (the audit log's own minimum, migration 0021) ends the walk."""
    deleted = 0
    after_id = 0
    while True:
        rows = await model.filter(id__gt=after_id).order_by("id").limit(BATCH).values_list("id", field)
        old = [pk for pk, value in rows if value < before]
        if old:
            try:
                deleted += await model.filter(id__in=old).delete()
            except (IntegrityError, OperationalError) as exc:
                log.warning("the database refused to delete %s rows before %s: %s", model.__name__, before, exc)
                return deleted
        if not rows or len(old) < len(rows):
            return deleted  # reached rows young enough to keep
        after_id = rows[-1][0]
        await asyncio.sleep(0)  # let the scan path's work in between batches


async def _set_mark(since: date) -> None:
    if not await RetentionMark.filter(kind=day_tallies.PASSAGES_MARK).update(since=since, updated_at=clock.now()):
        try:
            await RetentionMark.create(kind=day_tallies.PASSAGES_MARK, since=since, updated_at=clock.now())
        except IntegrityError:  # another process set it first
            await RetentionMark.filter(kind=day_tallies.PASSAGES_MARK).update(since=since, updated_at=clock.now())


async def tally_until(rt: Runtime, until: date, keep_from: date) -> None:
    """Store every employee's attendance days before `until` not stored yet (none before
    `keep_from`, which attendance retention would delete at once), and move the mark to `until`."""
    since = await day_tallies.tallied_since()
    if since is not None and since >= until:
        return
    tz = rt.settings.tz
    start = since
    if start is None:
        oldest = await GateEvent.filter(decision=Decision.GRANTED).order_by("id").limit(1).values_list("at", flat=True)
        start = cast(datetime, oldest[0]).astimezone(tz).date() - timedelta(days=1) if oldest else until
    start = max(start, keep_from)
    if start >= until:
        await _set_mark(until)
        return
    people = await Person.filter(kind=PersonKind.EMPLOYEE).values("id", "department_id", "work_schedule_id")
    shifts = await attendance.schedules_for(people)
    day_begins = {pid: shift.day_begins if shift is not None else 0 for pid, shift in shifts.items()}
    zones = await attendance.site_zone_ids(rt)
    while start < until:
        last = min(start + timedelta(days=TALLY_DAYS - 1), until - timedelta(days=1))
        tallies = await day_tallies.day_tallies(tz, start, last, zones, day_begins)
        by_day: dict[date, list[AttendanceDayTally]] = {}
        for pid, per in tallies.items():
            for d, (n, first_in, last_out, inside, ends_inside, exits) in per.items():
                by_day.setdefault(d, []).append(
                    AttendanceDayTally(
                        person_id=pid,
                        day=d,
                        passages=n,
                        first_in=first_in,
                        last_out=last_out,
                        inside_us=inside // timedelta(microseconds=1),
                        ends_inside=ends_inside,
                        exits_before_entry=exits,
                    )
                )
        # One day per transaction (a site's day is a few thousand rows), the mark moving with it.
        for d in sorted(by_day):
            try:
                async with in_transaction():
                    # Run again (a crash before the mark moved) it stores the same day.
                    await AttendanceDayTally.filter(day=d).delete()
                    await AttendanceDayTally.bulk_create(by_day[d], batch_size=BATCH)
                    await _set_mark(d + timedelta(days=1))
            except IntegrityError:
                return  # another server process stored this day at the same moment: its mark stands
            await asyncio.sleep(0)
        start = last + timedelta(days=1)
    await _set_mark(until)


async def purge(rt: Runtime) -> Purged:
    """Delete what is past its retention; write the purge to the audit log when it deleted any."""
    settings = rt.settings
    tz = settings.tz
    now = clock.now()
    today = now.astimezone(tz).date()
    keep_attendance_from = today - timedelta(days=settings.retention_attendance_days)

    # Passages: attendance days before `until` are stored first; passages go only for days before it.
    until = (now - timedelta(days=settings.retention_passage_days)).astimezone(tz).date()
    await tally_until(rt, until, keep_attendance_from)
    since = await day_tallies.tallied_since() or until
    passages_before = _midnight(since - timedelta(days=1), tz)
    passages = await _delete_oldest(GateEvent, "at", passages_before)

    attendance_rows = await _delete_oldest(AttendanceDayTally, "day", keep_attendance_from)
    attendance_rows += await _delete_oldest(AttendanceCorrection, "day", keep_attendance_from)
    # Whole days, like the rest, so a purge (and its own audit entry) comes once a day, not every
    # round. The database itself keeps audit entries younger than 180 days by its own clock.
    audit_before = _midnight(today - timedelta(days=settings.retention_audit_days), tz)
    audit_rows = await _delete_oldest(AuditEntry, "at", audit_before)

    done = Purged(passages, passages_before, attendance_rows, keep_attendance_from, audit_rows, audit_before)
    if done.any:
        await audit.record(
            None, "retentionPurge", address="upkeep", target_type="retention", outcome="ok", detail=done.detail()
        )
    return done
