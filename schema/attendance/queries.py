"""Root query fields: attendance."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from resolvers.access import grants
from resolvers.attendance import attendance
from resolvers.core import models as m
from resolvers.core.actor import Actor
from resolvers.core.errors import is_id
from schema.access.types import Zone
from schema.attendance.types import AttendanceDay, AttendanceSummary, MusterLine, WorkSchedule
from schema.core.context import Info, actor_of
from schema.core.errors import bad_input, forbidden
from schema.core.permissions import (
    ATTENDANCE_READERS,
    IsAttendanceReader,
    IsAuthenticated,
    IsGateStaff,
)
from schema.people.types import Person


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
