"""GraphQL object types and mutation payloads: attendance."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from resolvers.attendance import attendance, muster
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
    extra_days: int = strawberry.field(description="Days off the person came anyway.")
    late: int = strawberry.field(description="Days the person came late.")
    left_early: int = strawberry.field(description="Days the person left early.")
    absent: int = strawberry.field(description="Workdays without any entry.")
    missing_exit: int = strawberry.field(description="Days with an entry and no recorded exit.")
    hours_inside: float = strawberry.field(description="Hours inside the site over the period.")
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
