"""Report data (POLICY 6.2): attendance per department, visitor flow and passages per
hour and per day, and the period summary for leadership. Rendering is report_files.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from resolvers.attendance import attendance
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Decision, Department, DeviceAlert, GateEvent, ItemMovement, Person, Visit
from resolvers.runtime import Runtime

MAX_DAYS = 366


NO_SCHEDULE = "no schedule"


@dataclass(frozen=True)
class Series:
    title: str
    labels: list[str]
    # None: nothing to measure in that bucket (an attendance rate where nobody was due at work);
    # files show it as NO_SCHEDULE, never as 0.
    values: Sequence[float | None]
    # Axis titles of the charts: what a value counts (with its unit) and what a bucket is.
    unit: str = "count"
    bucket: str = "day"


def _range(rt: Runtime, first: date, last: date) -> tuple[datetime, datetime]:
    if last < first:
        raise UserError(ErrorCode.INVALID, "must not be before from", "to")
    if (last - first).days >= MAX_DAYS:
        raise UserError(ErrorCode.INVALID, f"at most {MAX_DAYS} days", "to")
    tz = rt.settings.tz
    # Bounds in UTC: SQLite compares the stored UTC text, so a local offset would shift the day.
    start = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
    return start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)


def _buckets(
    rt: Runtime, times: list[datetime], first: date, last: date, by: str, weights: list[int] | None = None
) -> tuple[list[str], list[float]]:
    tz = rt.settings.tz
    counts: Counter[str] = Counter()
    for i, t in enumerate(times):
        local = t.astimezone(tz)
        counts[local.strftime("%H:00") if by == "hour" else local.date().isoformat()] += weights[i] if weights else 1
    if by == "hour":
        labels = [f"{h:02d}:00" for h in range(24)]
    else:
        labels = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return labels, [float(counts.get(label, 0)) for label in labels]


def _by(by: str) -> str:
    if by not in ("hour", "day"):
        raise UserError(ErrorCode.INVALID, "by is hour or day", "by")
    return by


async def visitor_flow(rt: Runtime, first: date, last: date, by: str) -> Series:
    start, end = _range(rt, first, last)
    times = [
        r["checked_in_at"]
        for r in await Visit.filter(checked_in_at__gte=start, checked_in_at__lt=end).values("checked_in_at")
    ]
    labels, values = _buckets(rt, times, first, last, _by(by))
    return Series(f"Visitor check-ins per {by}, {first} to {last}", labels, values, "Check-ins (count)", by)


STOCK_KINDS = {"in": ("RECEIVE", "RETURN"), "out": ("ISSUE", "LEND", "DISPOSE")}


async def stock_flow(rt: Runtime, first: date, last: date, by: str, way: str) -> Series:
    """Units into stock (received, returned) or out of it (issued, lent, disposed of)."""
    start, end = _range(rt, first, last)
    rows = await ItemMovement.filter(at__gte=start, at__lt=end, kind__in=STOCK_KINDS[way]).values("at", "quantity")
    labels, values = _buckets(rt, [r["at"] for r in rows], first, last, _by(by), [r["quantity"] for r in rows])
    return Series(f"Stock {way} (units) per {by}, {first} to {last}", labels, values, f"Stock {way} (units)", by)


async def passages(rt: Runtime, first: date, last: date, by: str, department_id: int | None = None) -> Series:
    start, end = _range(rt, first, last)
    query = GateEvent.filter(
        decision=Decision.GRANTED,
        direction="IN",
        at__gte=start,
        at__lt=end,
        zone_id__in=await attendance.site_zone_ids(rt),
    )
    if department_id is not None:
        query = query.filter(person__department_id=department_id)
    times = [r["at"] for r in await query.values("at")]
    labels, values = _buckets(rt, times, first, last, _by(by))
    return Series(f"Entries per {by}, {first} to {last}", labels, values, "Entries (count)", by)


async def attendance_rate(rt: Runtime, first: date, last: date, department_id: int | None) -> Series:
    """Per day: the share of people due at work who came; None on a day nobody was due (no one
    had a schedule that fell on it): "no schedule", not 0 %."""
    _range(rt, first, last)
    days = await attendance.days_for(rt, None, first, last, department_id)
    labels = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    due: Counter[str] = Counter()
    came: Counter[str] = Counter()
    for rows in days.values():
        for d in rows:
            if d.workday:
                due[d.day.isoformat()] += 1
                came[d.day.isoformat()] += d.first_in is not None
    values: list[float | None] = [
        round(100.0 * came[label] / due[label], 1) if due[label] else None for label in labels
    ]
    return Series(f"Attendance % per day, {first} to {last}", labels, values, "Attendance (%)", "day")


@dataclass(frozen=True)
class AttendanceLine:
    person_id: int
    name: str
    department: str
    summary: attendance.MonthSummary


async def attendance_lines(rt: Runtime, first: date, last: date, department_id: int | None) -> list[AttendanceLine]:
    _range(rt, first, last)
    summaries = await attendance.summaries_for(rt, None, first, last, department_id)
    people = {
        p["id"]: p for p in await Person.filter(id__in=list(summaries)).values("id", "display_name", "department_id")
    }
    departments = {d["id"]: d["name"] for d in await Department.all().values("id", "name")}
    return [
        AttendanceLine(
            pid,
            people[pid]["display_name"],
            departments.get(people[pid]["department_id"], ""),
            summary,
        )
        for pid, summary in summaries.items()
    ]


@dataclass(frozen=True)
class Summary:
    first: date
    last: date
    entries: int
    denied: int
    visitors: int
    attendance_lines: list[AttendanceLine]
    anomalies: dict[str, int]
    anomaly_samples: list[tuple[datetime, str, str]]


async def summary(rt: Runtime, first: date, last: date) -> Summary:
    start, end = _range(rt, first, last)
    events = GateEvent.filter(at__gte=start, at__lt=end, decision__not_isnull=True)
    alerts = await DeviceAlert.filter(at__gte=start, at__lt=end).order_by("-id").values("at", "kind", "message")
    return Summary(
        first=first,
        last=last,
        entries=await events.filter(decision=Decision.GRANTED, direction="IN").count(),
        denied=await events.filter(decision=Decision.DENIED).count(),
        visitors=await Visit.filter(checked_in_at__gte=start, checked_in_at__lt=end).count(),
        attendance_lines=await attendance_lines(rt, first, last, None),
        anomalies=dict(Counter(a["kind"] for a in alerts)),
        anomaly_samples=[(a["at"], a["kind"], a["message"]) for a in alerts[:30]],
    )
