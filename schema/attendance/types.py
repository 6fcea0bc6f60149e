"""GraphQL object types and mutation payloads: attendance."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from resolvers.attendance import attendance
from resolvers.core import models as m
from schema.access.types import Zone
from schema.core.payloads import UserError
from schema.people.types import Person


@strawberry.type
class AttendanceDay:
    day: date
    first_in: datetime | None
    last_out: datetime | None
    minutes_inside: int
    workday: bool
    late: bool
    left_early: bool
    absent: bool
    missing_exit: bool
    corrected: bool
    correction_reason: str
    shift_start: datetime | None
    shift_end: datetime | None

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


@strawberry.type
class AttendanceSummary:
    person: Person
    workdays: int
    present: int = strawberry.field(description="Workdays the person came.")
    extra_days: int = strawberry.field(description="Days off the person came anyway.")
    late: int
    left_early: int
    absent: int
    missing_exit: int
    hours_inside: float


@strawberry.type
class WorkSchedule:
    id: strawberry.ID
    name: str
    weekdays: list[int]
    start: str
    end: str
    grace_minutes: int

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


@strawberry.type
class MusterLine:
    person: Person
    zones: list[Zone]


@strawberry.type
class WorkSchedulePayload:
    schedule: WorkSchedule | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssignmentPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AttendanceCorrectionPayload:
    day: AttendanceDay | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
