"""Root query fields: supervision (POLICY 7)."""

from __future__ import annotations

import strawberry

from resolvers.core import models as m
from resolvers.supervision import inspections, notices
from resolvers.supervision.proposals import SOURCES
from schema.core.context import Info, actor_of
from schema.core.errors import bad_input, forbidden, optional_id
from schema.core.permissions import (
    SUPERVISION_READERS,
    IsEmployee,
    IsInspector,
    IsSupervisionOverseer,
    IsSupervisionReader,
)
from schema.people.types import Department, Person
from schema.supervision.types import (
    DepartmentNotices,
    ExecutiveSupervisionView,
    FindingSource,
    Inspection,
    InspectionSchedule,
    RectificationNotice,
    TeamMember,
)

MAX_LIST = 200


@strawberry.type
class SupervisionQuery:
    @strawberry.field(
        permission_classes=[IsSupervisionOverseer],
        description="Who is on the supervision team: SUPERVISOR holders and those on an open inspection.",
    )
    async def supervision_team(self) -> list[TeamMember]:
        return [TeamMember(person=Person.of(p), why=why) for p, why in await inspections.team()]

    @strawberry.field(
        permission_classes=[IsInspector],
        description="Inspections, newest first; HR, finance and others joining see those they are on.",
    )
    async def inspections(
        self,
        info: Info,
        status: m.InspectionStatus | None = None,
        kind: m.InspectionKind | None = None,
        first: int = 50,
    ) -> list[Inspection]:
        if not 1 <= first <= MAX_LIST:
            raise bad_input(f"`first` must be between 1 and {MAX_LIST}")
        actor = actor_of(info)
        query = m.Inspection.all()
        if status is not None:
            query = query.filter(status=status)
        if kind is not None:
            query = query.filter(kind=kind)
        if actor.has_any(*SUPERVISION_READERS):
            return [Inspection.of(r) for r in await query.order_by("-id").limit(first)]
        # Membership is a JSON list: read the candidates, keep the caller's (an inspection's
        # team is a handful of people, a site runs tens of inspections a year).
        rows = [r for r in await query.order_by("-id") if inspections.may_work_on(actor, r)]
        return [Inspection.of(r) for r in rows[:first]]

    @strawberry.field(
        permission_classes=[IsInspector],
        description="One inspection; null when none. HR, finance and others joining read those they are on.",
    )
    async def inspection(self, info: Info, id: strawberry.ID) -> Inspection | None:
        actor = actor_of(info)
        row = await m.Inspection.get_or_none(id=optional_id(id, "inspection"))
        if actor.has_any(*SUPERVISION_READERS):
            return Inspection.of(row) if row else None
        if row is None or not inspections.may_work_on(actor, row):
            raise forbidden("only the supervision team and the inspection's members read it")
        return Inspection.of(row)

    @strawberry.field(permission_classes=[IsSupervisionReader], description="The periodic inspections' schedules.")
    async def inspection_schedules(self) -> list[InspectionSchedule]:
        return [InspectionSchedule.of(r) for r in await m.InspectionSchedule.all().order_by("id")]

    @strawberry.field(
        permission_classes=[IsSupervisionReader], description="What the data is asked: the registered finding sources."
    )
    async def finding_sources(self) -> list[FindingSource]:
        return [FindingSource(name=s.name, area=s.area, title=s.title) for s in sorted(SOURCES.values(), key=str)]

    @strawberry.field(
        permission_classes=[IsSupervisionReader],
        description="Rectification notices, newest first, of one department or status if asked.",
    )
    async def rectification_notices(
        self, department_id: strawberry.ID | None = None, status: m.NoticeStatus | None = None, first: int = 50
    ) -> list[RectificationNotice]:
        if not 1 <= first <= MAX_LIST:
            raise bad_input(f"`first` must be between 1 and {MAX_LIST}")
        query = m.RectificationNotice.all()
        if department_id is not None:
            query = query.filter(department_id=optional_id(department_id, "department"))
        if status is not None:
            query = query.filter(status=status)
        return [RectificationNotice.of(r) for r in await query.order_by("-id").limit(first)]

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="The notices to the departments the caller heads or deputises for, newest first.",
    )
    async def my_rectification_notices(self, info: Info) -> list[RectificationNotice]:
        departments = await notices.answering_departments(actor_of(info))
        if not departments:
            return []
        rows = await m.RectificationNotice.filter(department_id__in=departments).order_by("-id").limit(MAX_LIST)
        return [RectificationNotice.of(r) for r in rows]

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="One notice: for the supervision readers, and the head or deputy of its department.",
    )
    async def rectification_notice(self, info: Info, id: strawberry.ID) -> RectificationNotice | None:
        actor = actor_of(info)
        row = await m.RectificationNotice.get_or_none(id=optional_id(id, "notice"))
        if actor.has_any(*SUPERVISION_READERS):
            return RectificationNotice.of(row) if row else None
        if row is None or row.department_id not in await notices.answering_departments(actor):
            raise forbidden("only the supervision team and the department's head or deputy see a notice")
        return RectificationNotice.of(row)

    @strawberry.field(
        permission_classes=[IsSupervisionOverseer],
        description="Open, overdue and escalated notices per department, and the inspections reported.",
    )
    async def executive_supervision_view(self) -> ExecutiveSupervisionView:
        lines, escalated, reported = await notices.executive_view()
        departments = {d.id: d for d in await m.Department.filter(id__in=[line.department_id for line in lines])}
        return ExecutiveSupervisionView(
            departments=[
                DepartmentNotices(
                    department=Department.of(departments[line.department_id]),
                    open=line.open,
                    overdue=line.overdue,
                    escalated=line.escalated,
                    verified=line.verified,
                )
                for line in lines
                if line.department_id in departments
            ],
            escalated=[RectificationNotice.of(n) for n in escalated],
            reported_inspections=[Inspection.of(i) for i in reported],
        )
