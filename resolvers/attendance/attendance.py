"""Attendance from site passages (POLICY 2.3): first in, last out, time inside, and how the
day went against the person's shift — late, left early, absent, missing exit.

The rules are pure functions over passages (so hand-built sequences test them); the
loaders at the bottom read passages through the site's outermost gates (IN and OUT of a
root zone), manual entries included, already summed up per person and day by the database
(day_tallies.py, held to `compute_days`'s answers by tests), and HR's corrections.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from resolvers.access.schedules import minutes_of
from resolvers.attendance import day_tallies
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import (
    AttendanceCorrection,
    Department,
    Person,
    PersonKind,
    WorkSchedule,
)
from resolvers.people import audit
from resolvers.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Passage:
    at: datetime
    direction: str  # IN or OUT
    method: str = "QR"


@dataclass(frozen=True, slots=True)
class Shift:
    weekdays: frozenset[int]
    start: time
    end: time
    grace: timedelta

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def bounds(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.start, tzinfo=tz)
        end_day = day + timedelta(days=1) if self.crosses_midnight else day
        return start, datetime.combine(end_day, self.end, tzinfo=tz)

    @property
    def day_begins(self) -> int:
        """Minutes after (or before, if negative) local midnight at which the shift's day begins."""
        s = self.start.hour * 60 + self.start.minute
        e = self.end.hour * 60 + self.end.minute
        length = (e - s) % 1440 or 1440
        return s - (1440 - length) // 2

    def workday_of(self, local: datetime) -> date:
        """The day of the shift a passage belongs to: the day begins halfway through the time
        off before the shift, so a night shift's morning stays with the evening it began, and
        an arrival just before a midnight start counts for the shift it arrives for.
        (day_tallies.py does the same in SQL.)"""
        return (local - timedelta(minutes=self.day_begins)).date()


@dataclass
class AttendanceDay:
    day: date
    first_in: datetime | None = None
    last_out: datetime | None = None
    inside: timedelta = timedelta()
    passages: int = 0
    workday: bool = False
    # False: the person had no work schedule at all, so the day is neither a workday nor a day
    # off (a new hire, a contractor): its presence is counted apart and gives no rate.
    scheduled: bool = True
    late: bool = False
    left_early: bool = False
    absent: bool = False
    missing_exit: bool = False
    corrected: bool = False
    correction_reason: str = ""
    shift_start: datetime | None = None
    shift_end: datetime | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Correction:
    first_in: datetime | None
    last_out: datetime | None
    reason: str


def shift_of(row: WorkSchedule | None) -> Shift | None:
    if row is None:
        return None
    s, e = minutes_of(row.start, "start"), minutes_of(row.end, "end")
    return Shift(
        frozenset(row.weekdays), time(s // 60, s % 60), time(e // 60, e % 60), timedelta(minutes=row.grace_minutes)
    )


def compute_days(
    passages: list[Passage],
    shift: Shift | None,
    tz: ZoneInfo,
    first: date,
    last: date,
    corrections: dict[date, Correction] | None = None,
) -> list[AttendanceDay]:
    """One row per day in [first, last] that is a workday or has passages."""
    corrections = corrections or {}
    by_day: dict[date, list[Passage]] = defaultdict(list)
    for p in sorted(passages, key=lambda p: p.at):
        local = p.at.astimezone(tz)
        by_day[shift.workday_of(local) if shift else local.date()].append(p)
    out = []
    day = first
    while day <= last:
        workday = shift is not None and day.isoweekday() in shift.weekdays
        todays = by_day.get(day, [])
        if workday or todays or day in corrections:
            row = _one_day(day, todays, shift if workday else None, tz, corrections.get(day))
            row.scheduled = shift is not None
            out.append(row)
        day += timedelta(days=1)
    return out


def _one_day(
    day: date, passages: list[Passage], shift: Shift | None, tz: ZoneInfo, correction: Correction | None
) -> AttendanceDay:
    row = AttendanceDay(day=day, passages=len(passages), workday=shift is not None)
    open_since: datetime | None = None
    for p in passages:
        if p.direction == "IN":
            if open_since is None:  # a second IN while inside (a duplicate, or soft anti-passback) adds nothing
                open_since = p.at
            if row.first_in is None:
                row.first_in = p.at
        else:
            row.last_out = p.at
            if open_since is not None:
                row.inside += p.at - open_since
                open_since = None
            elif row.first_in is None:
                row.flags.append("exit_without_entry")
    row.missing_exit = open_since is not None
    return _settle(row, _due(shift, day, tz) if shift is not None else None, correction)


# A workday's shift start and end, and (in UTC, where passages are compared fastest) the
# instants after which an entry is late and before which an exit is early.
Due = tuple[datetime, datetime, datetime, datetime]


def _due(shift: Shift, day: date, tz: ZoneInfo) -> Due:
    start, end = shift.bounds(day, tz)
    return start, end, (start + shift.grace).astimezone(UTC), (end - shift.grace).astimezone(UTC)


def _settle(row: AttendanceDay, due: Due | None, correction: Correction | None) -> AttendanceDay:
    """A day's passages summed up (`row`), then HR's correction and, on a workday (`due`: the
    shift that day), how it went against the shift."""
    if correction is not None:
        row.corrected, row.correction_reason = True, correction.reason
        row.first_in = correction.first_in or row.first_in
        row.last_out = correction.last_out or row.last_out
        if row.first_in and row.last_out and row.last_out > row.first_in:
            row.inside = row.last_out - row.first_in
            row.missing_exit = False
    if due is not None:
        row.shift_start, row.shift_end, late_after, early_before = due
        row.absent = row.first_in is None
        row.late = row.first_in is not None and row.first_in > late_after
        row.left_early = row.last_out is not None and not row.missing_exit and row.last_out < early_before
    return row


# --- reading the log -------------------------------------------------------------------------


async def site_zone_ids(rt: Runtime) -> list[int]:
    topo = await rt.topology.get()
    return [z.id for z in topo.zones.values() if z.parent_id is None]


async def schedules_for(people: list[dict[str, Any]]) -> dict[int, Shift | None]:
    rows = await WorkSchedule.all()
    shifts = {s.id: shift_of(s) for s in rows}  # one Shift per schedule, shared by its people
    dept_schedule = {d["id"]: d["work_schedule_id"] for d in await Department.all().values("id", "work_schedule_id")}
    out = {}
    for p in people:
        sid = p["work_schedule_id"] or dept_schedule.get(p["department_id"])
        out[p["id"]] = shifts.get(sid) if sid else None
    return out


async def days_for(
    rt: Runtime, person_ids: list[int] | None, first: date, last: date, department_id: int | None = None
) -> dict[int, list[AttendanceDay]]:
    days, _ = await _days_and_shifts(rt, person_ids, first, last, department_id)
    return days


async def summaries_for(
    rt: Runtime, person_ids: list[int] | None, first: date, last: date, department_id: int | None = None
) -> dict[int, MonthSummary]:
    """Each employee's period summed up; someone with no schedule has every day of it unscheduled."""
    days, shifts = await _days_and_shifts(rt, person_ids, first, last, department_id)
    period = (last - first).days + 1
    return {pid: summarise(pid, rows, 0 if shifts[pid] is not None else period) for pid, rows in days.items()}


async def _days_and_shifts(
    rt: Runtime, person_ids: list[int] | None, first: date, last: date, department_id: int | None
) -> tuple[dict[int, list[AttendanceDay]], dict[int, Shift | None]]:
    """Everyone's days as `compute_days` gives them from their passages, but with the passages
    summed up per person and day by the database (day_tallies.py): one row per day read, not
    one per passage, and each shift's bounds worked out once per day, not once per person."""
    tz = rt.settings.tz
    people_q = Person.filter(kind=PersonKind.EMPLOYEE)
    if person_ids is not None:
        people_q = people_q.filter(id__in=person_ids)
    if department_id is not None:
        people_q = people_q.filter(department_id=department_id)
    people = await people_q.order_by("id").values("id", "department_id", "work_schedule_id")
    ids = [p["id"] for p in people]
    shifts = await schedules_for(people)
    tallies: dict[int, dict[date, day_tallies.DayTally]] = {}
    if ids:
        day_begins = {pid: shift.day_begins if shift is not None else 0 for pid, shift in shifts.items()}
        # Days whose passages retention purged come from the tallies stored before the purge.
        since = await day_tallies.tallied_since()
        live_first = first if since is None else max(first, since)
        if live_first <= last:
            tallies = await day_tallies.day_tallies(tz, live_first, last, await site_zone_ids(rt), day_begins)
        if since is not None and first < since:
            stored = await day_tallies.stored_tallies(ids, first, min(last, since - timedelta(days=1)))
            for pid, per in stored.items():
                tallies.setdefault(pid, {}).update(per)
    corrections = await corrections_for(ids, first, last)
    period = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days: dict[int, list[AttendanceDay]] = {}
    with day_tallies.gc_paused():
        _assemble(days, ids, shifts, tallies, corrections, period, tz)
    return days, shifts


def _assemble(
    days: dict[int, list[AttendanceDay]],
    ids: list[int],
    shifts: dict[int, Shift | None],
    tallies: dict[int, dict[date, day_tallies.DayTally]],
    corrections: dict[int, dict[date, Correction]],
    period: list[date],
    tz: ZoneInfo,
) -> None:
    # Per shift: on which days of the period it is due, and how (computed once, not per person).
    plans: dict[Shift, list[Due | None]] = {}
    unscheduled: list[Due | None] = [None] * len(period)
    no_fixes: dict[date, Correction] = {}
    for pid in ids:
        shift = shifts[pid]
        plan = unscheduled
        if shift is not None:
            plan = plans.get(shift) or plans.setdefault(
                shift, [_due(shift, d, tz) if d.isoweekday() in shift.weekdays else None for d in period]
            )
        mine, fixes = tallies.get(pid, {}), corrections.get(pid, no_fixes)
        scheduled = shift is not None
        rows: list[AttendanceDay] = []
        for d, due in zip(period, plan, strict=True):
            tally = mine.get(d)
            fix = fixes.get(d) if fixes else None
            if due is None and tally is None and fix is None:
                continue  # a day off (or without a schedule) with nothing on it
            if tally is None:
                row = AttendanceDay(day=d, workday=due is not None, scheduled=scheduled)
            else:
                n, first_in, last_out, inside, ends_inside, exits = tally
                row = AttendanceDay(
                    day=d,
                    first_in=first_in,
                    last_out=last_out,
                    inside=inside,
                    passages=n,
                    workday=due is not None,
                    scheduled=scheduled,
                    missing_exit=ends_inside,
                    flags=["exit_without_entry"] * exits,
                )
            rows.append(_settle(row, due, fix))
        days[pid] = rows


async def corrections_for(ids: list[int], first: date, last: date) -> dict[int, dict[date, Correction]]:
    corrections: dict[int, dict[date, Correction]] = defaultdict(dict)
    for c in await AttendanceCorrection.filter(person_id__in=ids, day__gte=first, day__lte=last).order_by("id"):
        # Corrections of one day add up, field by field: a later one fixes what it names.
        earlier = corrections[c.person_id].get(c.day)
        corrections[c.person_id][c.day] = Correction(
            c.first_in or (earlier.first_in if earlier else None),
            c.last_out or (earlier.last_out if earlier else None),
            c.reason if earlier is None else f"{earlier.reason}; {c.reason}",
        )
    return corrections


@dataclass(frozen=True)
class MonthSummary:
    person_id: int
    workdays: int
    present: int
    extra_days: int
    late: int
    left_early: int
    absent: int
    missing_exit: int
    hours_inside: float
    unscheduled_days: int = 0
    unscheduled_present: int = 0

    @property
    def attendance_rate(self) -> float | None:
        """Percent of workdays present; None with no workday (nothing was due, so no rate)."""
        return round(100.0 * self.present / self.workdays, 1) if self.workdays else None


def summarise(person_id: int, days: list[AttendanceDay], unscheduled_days: int = 0) -> MonthSummary:
    """`present` counts the workdays the person came, so present + absent = workdays; days off
    they came anyway are `extra_days`. Days without any schedule (`unscheduled_days`: the whole
    period for someone with none) are neither: the days they came then are `unscheduled_present`."""
    return MonthSummary(
        person_id=person_id,
        workdays=sum(d.workday for d in days),
        present=sum(d.first_in is not None and d.workday for d in days),
        extra_days=sum(d.first_in is not None and not d.workday and d.scheduled for d in days),
        late=sum(d.late for d in days),
        left_early=sum(d.left_early for d in days),
        absent=sum(d.absent for d in days),
        missing_exit=sum(d.missing_exit for d in days),
        hours_inside=round(sum(d.inside.total_seconds() for d in days) / 3600, 2),
        unscheduled_days=max(unscheduled_days, sum(not d.scheduled for d in days)),
        unscheduled_present=sum(d.first_in is not None and not d.scheduled for d in days),
    )


# --- pages for the API ------------------------------------------------------------------------


async def report_page(
    rt: Runtime, first: int, after_id: int | None, first_day: date, last_day: date, department_id: int | None
) -> list[MonthSummary]:
    """Up to first + 1 employees' summaries over the period, by person id after `after_id`.

    The page's people are chosen first and only their days are computed: a report over the
    whole company costs a page at a time, not everyone's month in one answer."""
    people = Person.filter(kind=PersonKind.EMPLOYEE)
    if department_id is not None:
        people = people.filter(department_id=department_id)
    if after_id is not None:
        people = people.filter(id__gt=after_id)
    ids: list[int] = [p["id"] for p in await people.order_by("id").limit(first + 1).values("id")]
    if not ids:
        return []
    summaries = await summaries_for(rt, ids, first_day, last_day, department_id)
    return [summaries[pid] for pid in ids if pid in summaries]


async def schedules_page(first: int, after_id: int | None) -> list[WorkSchedule]:
    """Work schedules by name."""
    query = WorkSchedule.all()
    if after_id is not None:
        anchor = await WorkSchedule.filter(id=after_id).values_list("name", flat=True)
        if not anchor:
            return []
        query = query.filter(Q(name__gt=anchor[0]) | Q(name=anchor[0], id__gt=after_id))
    return await query.order_by("name", "id").limit(first + 1)


# --- changing it -----------------------------------------------------------------------------


async def create_schedule(name: str, weekdays: list[int], start: str, end: str, grace: int) -> WorkSchedule:
    clean = validation.name(name, "name")
    minutes_of(start, "start")
    minutes_of(end, "end")
    if start == end:
        raise UserError(ErrorCode.INVALID, "a shift's start and end differ", "end")
    if not weekdays or any(not 1 <= d <= 7 for d in weekdays):
        raise UserError(ErrorCode.INVALID, "weekdays are 1 (Monday) to 7 (Sunday), at least one", "weekdays")
    if not 0 <= grace <= 240:
        raise UserError(ErrorCode.INVALID, "grace is 0 to 240 minutes", "graceMinutes")
    if await WorkSchedule.filter(name=clean).exists():
        raise UserError(ErrorCode.CONFLICT, "a schedule with this name exists", "name")
    row = await WorkSchedule.create(
        name=clean, weekdays=sorted(set(weekdays)), start=start, end=end, grace_minutes=grace
    )
    audit.note_change("work_schedule", row.id, None, {"name": clean, "start": start, "end": end})
    return row


async def assign_schedule(schedule_id: str | None, person_id: str | None, department_id: str | None) -> None:
    if (person_id is None) == (department_id is None):
        raise UserError(ErrorCode.INVALID, "give exactly one of personId and departmentId", "personId")
    sid = None
    if schedule_id is not None:
        row = await WorkSchedule.get_or_none(id=parse_id(schedule_id, "schedule", "scheduleId"))
        if row is None:
            raise not_found("schedule", "scheduleId")
        sid = row.id
    if person_id is not None:
        if not await Person.filter(id=parse_id(person_id, "person", "personId")).update(work_schedule_id=sid):
            raise not_found("person", "personId")
    elif not await Department.filter(id=parse_id(department_id, "department", "departmentId")).update(
        work_schedule_id=sid
    ):
        raise not_found("department", "departmentId")
    audit.note_change("schedule_assignment", person_id or department_id, None, {"schedule": sid})


async def correct(
    actor: Actor, person_id: str, day: date, first_in: datetime | None, last_out: datetime | None, reason: str
) -> AttendanceCorrection:
    person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"), kind=PersonKind.EMPLOYEE)
    if person is None:
        raise not_found("employee", "personId")
    why = validation.name(reason, "reason", max_length=500)
    if first_in is None and last_out is None:
        raise UserError(ErrorCode.INVALID, "give firstIn, lastOut or both", "firstIn")
    if first_in is not None and last_out is not None and last_out <= first_in:
        raise UserError(ErrorCode.INVALID, "must be after firstIn", "lastOut")
    if day > clock.now().date() + timedelta(days=1):
        raise UserError(ErrorCode.INVALID, "a day that has not come yet", "day")
    async with in_transaction():
        row = await AttendanceCorrection.create(
            person_id=person.id,
            day=day,
            first_in=first_in,
            last_out=last_out,
            reason=why,
            corrected_by_id=actor.person_id,
        )
    audit.note_change(
        "attendance", f"{person.id}:{day.isoformat()}", None, {"firstIn": first_in, "lastOut": last_out, "reason": why}
    )
    return row
