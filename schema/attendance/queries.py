"""Root query fields: attendance."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from resolvers.access import grants
from resolvers.attendance import attendance, summaries
from resolvers.attendance import muster as roll_call
from resolvers.core import models as m
from resolvers.core.actor import Actor
from resolvers.core.errors import is_id
from schema.attendance.types import (
    AttendanceDay,
    AttendanceSummary,
    MusterLine,
    ScheduledSummary,
    SummaryKind,
    WorkSchedule,
)
from schema.core.context import Info, actor_of
from schema.core.errors import bad_input, forbidden
from schema.core.pagination import Connection, check_first, decode_cursor, decode_cursor_pair, page_of
from schema.core.permissions import (
    ATTENDANCE_READERS,
    IsAttendanceReader,
    IsAuthenticated,
    IsGateStaff,
    IsReportReader,
)


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
    # A plain list: at most 366 days of one person, checked by _days.
    @strawberry.field(permission_classes=[IsAuthenticated], description="A person's days between two dates.")
    async def attendance(
        self,
        info: Info,
        person_id: strawberry.ID,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> list[AttendanceDay]:
        _days(from_, to)
        person = await info.context.loaders.person.load(int(person_id)) if is_id(person_id) else None
        if person is None:
            return []
        await _may_read_attendance(actor_of(info), person)
        days = await attendance.days_for(info.context.rt, [person.id], from_, to)
        return [AttendanceDay.of(d) for d in days.get(person.id, [])]

    # A connection: the period is bounded but the people are not; a page's days are computed
    # for that page's people only (resolvers.attendance.attendance.report_page).
    @strawberry.field(
        permission_classes=[IsAttendanceReader],
        description="Each employee's attendance over a period (a month), by person.",
    )
    async def attendance_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        department_id: strawberry.ID | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[AttendanceSummary]:
        first = check_first(first)
        _days(from_, to)
        department = await _department_scope(actor_of(info), department_id)
        rows = await attendance.report_page(
            info.context.rt, first, decode_cursor("person", after), from_, to, department
        )
        return page_of(rows, first, "person", AttendanceSummary.of, key=lambda s: s.person_id, after=after)

    # A connection: one row a day and one a week, kept RETENTION_DAYS.
    @strawberry.field(
        permission_classes=[IsReportReader],
        description="The kept daily and weekly summaries (passages, denials, visitors, stock, anomalies), "
        "newest period first.",
    )
    async def scheduled_summaries(
        self, kind: SummaryKind | None = None, first: int = 50, after: str | None = None
    ) -> Connection[ScheduledSummary]:
        first = check_first(first)
        cursor = decode_cursor_pair("summary", after)
        if cursor is not None and not 1 <= cursor[0] <= date.max.toordinal():
            raise bad_input("`after` is not a cursor this list gave out")  # a day no date has
        rows = await summaries.page(kind.name if kind is not None else None, first, cursor)
        return page_of(
            rows, first, "summary", ScheduledSummary.of, key=lambda s: (s.first.toordinal(), s.id), after=after
        )

    @strawberry.field(permission_classes=[IsAttendanceReader], description="Work schedules, by name.")
    async def work_schedules(self, first: int = 50, after: str | None = None) -> Connection[WorkSchedule]:
        first = check_first(first)
        rows = await attendance.schedules_page(first, decode_cursor("schedule", after))
        return page_of(rows, first, "schedule", WorkSchedule.of, after=after)

    # A plain list: a roll call is one snapshot of who is inside now, read whole; pages read
    # at different instants would miss or repeat people walking between them.
    @strawberry.field(
        permission_classes=[IsGateStaff],
        description="Who is inside each zone now (with its sub-zones), for an evacuation roll call; people "
        "whose access ended while inside stay listed, with `status` CHECKED_OUT_WITHOUT_EXIT.",
    )
    async def muster(self, info: Info, zone_id: strawberry.ID | None = None) -> list[MusterLine]:
        # A zone id that cannot be one asks for no zone in particular: everyone inside.
        entries = await roll_call.roll_call(
            info.context.rt, int(zone_id) if zone_id is not None and is_id(zone_id) else None
        )
        return [MusterLine.of(entry) for entry in entries]
