"""Attendance, queries across the log, muster lists and anomaly alerts (POLICY 2.3, 6.2, 7.1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from resolvers.access import grants
from resolvers.attendance import attendance
from resolvers.core import models as m
from resolvers.core.actor import Actor
from resolvers.core.errors import is_id
from schema.core.context import Info, actor_of
from schema.core.errors import bad_input, forbidden
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    ATTENDANCE_READERS,
    IsAttendanceReader,
    IsAuthenticated,
    IsEventReader,
    IsGateStaff,
    IsPeopleAdmin,
)
from schema.core.types import DeviceAlert, Person, UserError, Zone
from schema.visits.types import Visit


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


@strawberry.input
class WorkScheduleInput:
    name: str
    weekdays: list[int] = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description="HH:MM in the site's time zone")
    end: str = strawberry.field(description="HH:MM; before start means the shift ends the next day")
    grace_minutes: int = 5


async def _may_read_attendance(actor: Actor, person: m.Person) -> None:
    """Oneself; HR, security, executives, auditors and admins; a head for their department."""
    if actor.person_id == person.id or actor.has_any(*ATTENDANCE_READERS):
        return
    if person.department_id in await grants.headed_departments(actor):
        return
    raise forbidden("you may read your own attendance, or your department's as its head")


async def _department_scope(actor: Actor, department_id: strawberry.ID | None) -> int | None:
    wanted = int(department_id) if department_id is not None and is_id(department_id) else None
    if department_id is not None and wanted is None:
        raise bad_input("no such department")
    if actor.has_any(*ATTENDANCE_READERS):
        return wanted
    headed = await grants.headed_departments(actor)
    if wanted is None and len(headed) == 1:
        return next(iter(headed))
    if wanted not in headed:
        raise forbidden("department heads read their own department only")
    return wanted


def _days(first: date, last: date) -> None:
    if last < first:
        raise bad_input("`to` is before `from`")
    if (last - first).days > 366:
        raise bad_input("at most 366 days")


@strawberry.type
class AttendanceQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="A person's days between two dates.")
    async def attendance(
        self,
        info: Info,
        person_id: strawberry.ID,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> list[AttendanceDay]:
        _days(from_, to)
        person = await m.Person.get_or_none(id=int(person_id)) if is_id(person_id) else None
        if person is None:
            return []
        await _may_read_attendance(actor_of(info), person)
        days = await attendance.days_for(info.context.rt, [person.id], from_, to)
        return [AttendanceDay.of(d) for d in days.get(person.id, [])]

    @strawberry.field(permission_classes=[IsAttendanceReader], description="Per person over a period (a month).")
    async def attendance_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        department_id: strawberry.ID | None = None,
    ) -> list[AttendanceSummary]:
        _days(from_, to)
        department = await _department_scope(actor_of(info), department_id)
        days = await attendance.days_for(info.context.rt, None, from_, to, department)
        people = {p.id: p for p in await m.Person.filter(id__in=list(days))}
        out = []
        for pid, rows in days.items():
            s = attendance.summarise(pid, rows)
            out.append(
                AttendanceSummary(
                    person=Person.of(people[pid]),
                    workdays=s.workdays,
                    present=s.present,
                    extra_days=s.extra_days,
                    late=s.late,
                    left_early=s.left_early,
                    absent=s.absent,
                    missing_exit=s.missing_exit,
                    hours_inside=s.hours_inside,
                )
            )
        return out

    @strawberry.field(permission_classes=[IsAttendanceReader])
    async def work_schedules(self) -> list[WorkSchedule]:
        return [WorkSchedule.of(r) for r in await m.WorkSchedule.all().order_by("name")]

    @strawberry.field(
        permission_classes=[IsGateStaff],
        description="Who is inside each zone now (with its sub-zones), for an evacuation roll call.",
    )
    async def muster(self, info: Info, zone_id: strawberry.ID | None = None) -> list[MusterLine]:
        rt = info.context.rt
        topo = await rt.topology.get()
        wanted = topo.subtree(int(zone_id)) if zone_id is not None and is_id(zone_id) else None
        inside = await rt.state.everyone_inside()
        if wanted is not None:
            inside = {p: z & wanted for p, z in inside.items() if z & wanted}
        people = {p.id: p for p in await m.Person.filter(id__in=list(inside))}
        zones = {z.id: z for z in await m.Zone.filter(id__in={z for zs in inside.values() for z in zs})}
        return [
            MusterLine(person=Person.of(people[pid]), zones=[Zone.of(zones[z]) for z in sorted(zs) if z in zones])
            for pid, zs in sorted(inside.items())
            if pid in people
        ]

    @strawberry.field(
        permission_classes=[IsEventReader],
        description="Alerts for the supervision team (anomalies, doors, devices), newest first.",
    )
    async def alerts(
        self, first: int = 50, after: str | None = None, kind: str | None = None, since: datetime | None = None
    ) -> Connection[DeviceAlert]:
        first = check_first(first)
        query = m.DeviceAlert.all()
        if kind:
            query = query.filter(kind=kind)
        if since is not None:
            query = query.filter(at__gte=since)
        cursor = decode_cursor("alert", after)
        if cursor is not None:
            query = query.filter(id__lt=cursor)
        rows = await query.order_by("-id").limit(first + 1)
        return page_of(rows, first, "alert", DeviceAlert.of)

    @strawberry.field(permission_classes=[IsEventReader], description="Visits with filters, newest first.")
    async def visits(
        self,
        first: int = 50,
        after: str | None = None,
        status: m.VisitStatus | None = None,
        host_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[Visit]:
        first = check_first(first)
        query = m.Visit.all()
        if status is not None:
            query = query.filter(status=status)
        if host_id is not None:
            query = query.filter(host_id=int(host_id) if is_id(host_id) else -1)
        if since is not None:
            query = query.filter(expected_end__gte=since)
        if until is not None:
            query = query.filter(expected_start__lt=until)
        cursor = decode_cursor("visit", after)
        if cursor is not None:
            query = query.filter(id__lt=cursor)
        rows = await query.order_by("-id").limit(first + 1)
        return page_of(rows, first, "visit", Visit.of)


@strawberry.type
class AttendanceMutation:
    @strawberry.mutation(permission_classes=[IsPeopleAdmin])
    async def create_work_schedule(self, input: WorkScheduleInput) -> WorkSchedulePayload:
        row, errors = await attempt(
            attendance.create_schedule(input.name, list(input.weekdays), input.start, input.end, input.grace_minutes)
        )
        return WorkSchedulePayload(schedule=WorkSchedule.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="scheduleId null removes the schedule.")
    async def assign_work_schedule(
        self,
        schedule_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
    ) -> AssignmentPayload:
        _, errors = await attempt(attendance.assign_schedule(schedule_id, person_id, department_id))
        return AssignmentPayload(ok=not errors, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="HR's correction of a day, with a reason.")
    async def correct_attendance(
        self,
        info: Info,
        person_id: strawberry.ID,
        day: date,
        reason: str,
        first_in: datetime | None = None,
        last_out: datetime | None = None,
    ) -> AttendanceCorrectionPayload:
        row, errors = await attempt(attendance.correct(actor_of(info), person_id, day, first_in, last_out, reason))
        if row is None:
            return AttendanceCorrectionPayload(errors=errors)
        days = await attendance.days_for(info.context.rt, [row.person_id], day, day)
        found = [AttendanceDay.of(d) for d in days.get(row.person_id, []) if d.day == day]
        return AttendanceCorrectionPayload(day=found[0] if found else None)
