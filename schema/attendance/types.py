"""GraphQL object types and mutation payloads: attendance."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from resolvers.attendance import attendance, muster, summaries
from resolvers.core import models as m
from schema.access.types import Zone
from schema.core.context import Info
from schema.core.payloads import UserError
from schema.people.types import Person


@strawberry.type(description="One person's day at the site, against their shift.")
class AttendanceDay:
    day: date = strawberry.field(description="The day, in the site's time zone.")
    first_in: datetime | None = strawberry.field(description="The first entry into the site; null if none.")
    last_out: datetime | None = strawberry.field(description="The last exit from the site; null if none.")
    minutes_inside: int = strawberry.field(description="Minutes between entries and exits that day.")
    workday: bool = strawberry.field(description="The person's shift falls on this day.")
    scheduled: bool = strawberry.field(
        description="The person has a work schedule; false: a day without one (a new hire), neither a workday "
        "nor a day off."
    )
    late: bool = strawberry.field(description="Came after the shift's start plus its grace.")
    left_early: bool = strawberry.field(description="Left before the shift's end minus its grace.")
    absent: bool = strawberry.field(description="A workday without any entry.")
    missing_exit: bool = strawberry.field(description="Came in, and no exit was recorded.")
    corrected: bool = strawberry.field(description="HR corrected the day.")
    correction_reason: str = strawberry.field(description="Why HR corrected it (empty if not).")
    shift_start: datetime | None = strawberry.field(description="When the shift started that day; null on a day off.")
    shift_end: datetime | None = strawberry.field(description="When the shift ended that day; null on a day off.")

    @classmethod
    def of(cls, d: attendance.AttendanceDay) -> AttendanceDay:
        return cls(
            day=d.day,
            first_in=d.first_in,
            last_out=d.last_out,
            minutes_inside=int(d.inside.total_seconds() // 60),
            workday=d.workday,
            scheduled=d.scheduled,
            late=d.late,
            left_early=d.left_early,
            absent=d.absent,
            missing_exit=d.missing_exit,
            corrected=d.corrected,
            correction_reason=d.correction_reason,
            shift_start=d.shift_start,
            shift_end=d.shift_end,
        )


@strawberry.type(description="One employee's attendance over a period, summed up.")
class AttendanceSummary:
    workdays: int = strawberry.field(description="Days the person's shift fell on.")
    present: int = strawberry.field(description="Workdays the person came.")
    extra_days: int = strawberry.field(description="Days off (of their schedule) the person came anyway.")
    late: int = strawberry.field(description="Days the person came late.")
    left_early: int = strawberry.field(description="Days the person left early.")
    absent: int = strawberry.field(description="Workdays without any entry.")
    missing_exit: int = strawberry.field(description="Days with an entry and no recorded exit.")
    hours_inside: float = strawberry.field(description="Hours inside the site over the period.")
    unscheduled_days: int = strawberry.field(
        description="Days of the period without any work schedule (all of them for someone with none): "
        "neither workdays nor days off."
    )
    unscheduled_present: int = strawberry.field(description="Days without a schedule the person came.")
    attendance_rate: float | None = strawberry.field(
        description="Percent of workdays present (one decimal); null when there was no workday."
    )
    person_id_: strawberry.Private[int]

    @classmethod
    def of(cls, s: attendance.MonthSummary) -> AttendanceSummary:
        return cls(
            workdays=s.workdays,
            present=s.present,
            extra_days=s.extra_days,
            late=s.late,
            left_early=s.left_early,
            absent=s.absent,
            missing_exit=s.missing_exit,
            hours_inside=s.hours_inside,
            unscheduled_days=s.unscheduled_days,
            unscheduled_present=s.unscheduled_present,
            attendance_rate=s.attendance_rate,
            person_id_=s.person_id,
        )

    @strawberry.field(description="The employee.")
    async def person(self, info: Info) -> Person:
        row = await info.context.loaders.person.load(self.person_id_)
        assert row is not None  # the summary was computed from this person's row just now
        return Person.of(row)


@strawberry.type(description="A shift: weekdays, start and end in the site's time zone.")
class WorkSchedule:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    name: str = strawberry.field(description="The schedule's unique name.")
    weekdays: list[int] = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description="HH:MM in the site's time zone")
    end: str = strawberry.field(description="HH:MM; before start means the shift ends the next day")
    grace_minutes: int = strawberry.field(description="Minutes late (or early) that still count as on time.")

    @classmethod
    def of(cls, row: m.WorkSchedule) -> WorkSchedule:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            weekdays=list(row.weekdays),
            start=row.start,
            end=row.end,
            grace_minutes=row.grace_minutes,
        )


MusterStatus = strawberry.enum(
    muster.MusterStatus,
    description="INSIDE; or CHECKED_OUT_WITHOUT_EXIT: their access ended (offboarded, visit ended) while "
    "the gates hold them inside, and no exit is on record: they may still be inside.",
)


@strawberry.type(description="One person inside the site now, for an evacuation roll call.")
class MusterLine:
    person_id_: strawberry.Private[int]
    zone_ids_: strawberry.Private[list[int]]
    status: MusterStatus = strawberry.field(  # type: ignore[valid-type]
        default=muster.MusterStatus.INSIDE,
        description="INSIDE, or CHECKED_OUT_WITHOUT_EXIT: to be found or confirmed gone (`confirmLeft`).",
    )
    access_ended_at: datetime | None = strawberry.field(
        default=None, description="When their access ended (offboarding, the visit's end); null while INSIDE."
    )
    note: str | None = strawberry.field(default=None, description="What changed, for the guard; null while INSIDE.")

    @classmethod
    def of(cls, entry: muster.MusterEntry) -> MusterLine:
        return cls(
            person_id_=entry.person_id,
            zone_ids_=entry.zone_ids,
            status=entry.status,
            access_ended_at=entry.access_ended_at,
            note=entry.note,
        )

    @strawberry.field(description="Who is inside.")
    async def person(self, info: Info) -> Person:
        row = await info.context.loaders.person.load(self.person_id_)
        assert row is not None  # muster keeps only people whose record it found
        return Person.of(row)

    @strawberry.field(description="The zones they are in (of those asked about), by id.")
    async def zones(self, info: Info) -> list[Zone]:
        rows = await info.context.loaders.zone.load_many(self.zone_ids_)
        return [Zone.of(z) for z in rows if z is not None]


@strawberry.type(description="The result of creating a work schedule.")
class WorkSchedulePayload:
    schedule: WorkSchedule | None = strawberry.field(default=None, description="The schedule; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of assigning a work schedule.")
class AssignmentPayload:
    ok: bool = strawberry.field(default=False, description="True when the schedule was assigned.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of HR's correction of a day.")
class AttendanceCorrectionPayload:
    day: AttendanceDay | None = strawberry.field(default=None, description="The day as corrected; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.enum(description="How long a scheduled summary's period is.")
class SummaryKind(Enum):
    DAILY = strawberry.enum_value("DAILY", description="One site-local day.")
    WEEKLY = strawberry.enum_value("WEEKLY", description="One ISO week, Monday to Sunday, site-local.")


@strawberry.type(description="A count under a name (a denial's reason, an anomaly's kind).")
class NamedCount:
    name: str = strawberry.field(description="The reason or kind.")
    count: int = strawberry.field(description="How many.")


def _named(counts: dict[str, int]) -> list[NamedCount]:
    return [NamedCount(name=k, count=v) for k, v in sorted(counts.items())]


@strawberry.type(
    description="A daily or weekly summary for leadership, produced once shortly after its period ended and "
    "kept (figures frozen as they stood then)."
)
class ScheduledSummary:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    kind: SummaryKind = strawberry.field(description="DAILY or WEEKLY.")
    period_start: date = strawberry.field(description="The period's first day, in the site's time zone.")
    period_end: date = strawberry.field(description="The period's last day (inclusive).")
    produced_at: datetime = strawberry.field(description="When the summary was produced.")
    passages: int = strawberry.field(description="Passages granted, at every gate, either way.")
    denials: int = strawberry.field(description="Scans refused.")
    denials_by_reason: list[NamedCount] = strawberry.field(description="Scans refused, by reason.")
    visitors: int = strawberry.field(description="Visits checked in.")
    stock_in: int = strawberry.field(description="Units into stock (received, returned).")
    stock_out: int = strawberry.field(description="Units out of stock (issued, lent, disposed of).")
    anomalies: int = strawberry.field(description="Anomaly alerts raised.")
    anomalies_by_kind: list[NamedCount] = strawberry.field(description="Anomaly alerts raised, by kind.")
    pdf_path: str = strawberry.field(description="Where to download it as PDF (bearer token), on this server.")
    csv_path: str = strawberry.field(description="Where to download it as CSV (bearer token), on this server.")

    @classmethod
    def of(cls, s: summaries.Stored) -> ScheduledSummary:
        f = s.figures
        return cls(
            id=strawberry.ID(str(s.id)),
            kind=SummaryKind(s.kind),
            period_start=s.first,
            period_end=s.last,
            produced_at=s.produced_at,
            passages=f.passages,
            denials=f.denials_total,
            denials_by_reason=_named(f.denials),
            visitors=f.visitors,
            stock_in=f.stock_in,
            stock_out=f.stock_out,
            anomalies=f.anomalies_total,
            anomalies_by_kind=_named(f.anomalies),
            pdf_path=summaries.download_path(s.id, "pdf"),
            csv_path=summaries.download_path(s.id, "csv"),
        )
