"""Root mutation fields: supervision (POLICY 7). Each step is audited by the mutation audit
extension, with the before/after the resolvers note."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models as m
from resolvers.supervision import inspections, notices, report
from schema.core.context import Info, actor_of
from schema.core.payloads import UserError, attempt
from schema.core.permissions import IsAdmin, IsEmployee, IsInspector, IsSupervisor
from schema.people.types import Person
from schema.supervision.types import (
    ChecklistItem,
    ChecklistItemPayload,
    Finding,
    FindingPayload,
    FindingsPayload,
    Inspection,
    InspectionPayload,
    InspectionSchedule,
    InspectionSchedulePayload,
    NoticePayload,
    RectificationNotice,
    TeamMemberPayload,
)


@strawberry.input(description="An unannounced spot check, started now (POLICY 7.2).")
class SpotInspectionInput:
    title: str = strawberry.field(description="Its title.")
    areas: list[str] = strawberry.field(description="Some of entry, visitors, items, devices, data.")
    sample: str = strawberry.field(default="", description="What was sampled, in words.")
    sample_department_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Limit the proposed findings to these departments (and site-wide ones)."
    )
    days: int = strawberry.field(default=30, description="How far back the data is looked at (1-366 days).")
    member_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Who joins it: holders of SUPERVISOR, SECURITY_ADMIN, HR, FINANCE, AUDITOR or ADMIN.",
    )


@strawberry.input(description="A special (one topic) or periodic inspection, planned for its lead to start.")
class PlanInspectionInput:
    kind: m.InspectionKind = strawberry.field(
        description="SPECIAL or PERIODIC (a SPOT check is started with startSpotInspection)."
    )
    title: str = strawberry.field(description="Its title.")
    areas: list[str] = strawberry.field(description="Some of entry, visitors, items, devices, data.")
    period_start: datetime = strawberry.field(description="The start of the period whose data it looks at (included).")
    period_end: datetime = strawberry.field(description="The end of that period (excluded); after periodStart.")
    topic: str = strawberry.field(default="", description="The one topic; required for a SPECIAL inspection.")
    lead_id: strawberry.ID | None = strawberry.field(default=None, description="The caller when not given.")
    member_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Who joins it: holders of SUPERVISOR, SECURITY_ADMIN, HR, FINANCE, AUDITOR or ADMIN.",
    )


@strawberry.input(description="A finding the inspector saw for themselves.")
class AddFindingInput:
    inspection_id: strawberry.ID = strawberry.field(description="The inspection (IN_PROGRESS) it was seen in.")
    area: str = strawberry.field(description="entry, visitors, items, devices or data.")
    summary: str = strawberry.field(description="The fact in one sentence, for people.")
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="The department that would answer a notice about it; null if none."
    )
    evidence_note: str = strawberry.field(default="", description="What was seen, kept as the finding's evidence.")


@strawberry.input(description="A file filed as evidence: at most 40 KiB, PDF, PNG, JPEG or plain text.")
class NoticeFileInput:
    name: str = strawberry.field(description="The file's name.")
    content_type: str = strawberry.field(
        description="application/pdf, image/png, image/jpeg or text/plain (the content must be that)."
    )
    content_base64: str = strawberry.field(description="The file's content, base64 (at most 40 KiB decoded).")


@strawberry.input(description="A rectification notice (POLICY 7.3).")
class IssueNoticeInput:
    finding_ids: list[strawberry.ID] = strawberry.field(
        description="Confirmed findings of one inspection (at least one)."
    )
    department_id: strawberry.ID = strawberry.field(description="The department that answers it (its head or deputy).")
    requirement: str = strawberry.field(description="What the department must put right.")
    deadline: datetime = strawberry.field(description="By when; in the future.")


@strawberry.input(description="A periodic inspection's schedule.")
class InspectionScheduleInput:
    title: str = strawberry.field(description="The title each inspection it opens gets.")
    areas: list[str] = strawberry.field(description="Some of entry, visitors, items, devices, data.")
    cadence: str = strawberry.field(description="MONTHLY or QUARTERLY.")
    day: int = strawberry.field(description="Day of the month it opens, 1-28.")
    lead_id: strawberry.ID | None = strawberry.field(
        default=None, description="Who leads the inspections it opens; the caller when not given."
    )


def _inspection(row: m.Inspection | None, errors: list[UserError]) -> InspectionPayload:
    return InspectionPayload(inspection=Inspection.of(row) if row else None, errors=errors)


def _finding(row: m.Finding | None, errors: list[UserError]) -> FindingPayload:
    return FindingPayload(finding=Finding.of(row) if row else None, errors=errors)


def _notice(row: m.RectificationNotice | None, errors: list[UserError]) -> NoticePayload:
    return NoticePayload(notice=RectificationNotice.of(row) if row else None, errors=errors)


@strawberry.type
class SupervisionMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Put an active employee on the supervision team (role SUPERVISOR), or take them off it.",
    )
    async def set_supervision_team_member(
        self, info: Info, person_id: strawberry.ID, member: bool
    ) -> TeamMemberPayload:
        row, errors = await attempt(inspections.set_team_member(actor_of(info), person_id, member))
        return TeamMemberPayload(person=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSupervisor], description="Start a spot inspection now, on a sample.")
    async def start_spot_inspection(self, info: Info, input: SpotInspectionInput) -> InspectionPayload:
        work = inspections.start_spot(
            actor_of(info),
            input.title,
            input.areas,
            input.sample,
            [str(i) for i in input.sample_department_ids],
            input.days,
            [str(i) for i in input.member_ids],
        )
        return _inspection(*await attempt(work))

    @strawberry.mutation(permission_classes=[IsSupervisor], description="Plan a special or periodic inspection.")
    async def plan_inspection(self, info: Info, input: PlanInspectionInput) -> InspectionPayload:
        work = inspections.plan(
            actor_of(info),
            input.kind,
            input.title,
            input.topic,
            input.areas,
            input.period_start,
            input.period_end,
            str(input.lead_id) if input.lead_id is not None else None,
            [str(i) for i in input.member_ids],
        )
        return _inspection(*await attempt(work))

    @strawberry.mutation(
        permission_classes=[IsInspector], description="Start a PLANNED inspection (its lead or members)."
    )
    async def start_inspection(self, info: Info, id: strawberry.ID) -> InspectionPayload:
        return _inspection(*await attempt(inspections.begin(actor_of(info), id)))

    @strawberry.mutation(
        permission_classes=[IsInspector],
        description="Ask the finding sources of the inspection's areas over its period; returns the new PROPOSED "
        "findings (a fact already put to this inspection is not put again).",
    )
    async def propose_findings(self, info: Info, inspection_id: strawberry.ID) -> FindingsPayload:
        rt = info.context.rt
        found, errors = await attempt(inspections.propose_findings(rt, actor_of(info), inspection_id))
        return FindingsPayload(findings=[Finding.of(f) for f in found or []], errors=errors)

    @strawberry.mutation(permission_classes=[IsInspector], description="Confirm a PROPOSED finding.")
    async def confirm_finding(self, info: Info, id: strawberry.ID, note: str = "") -> FindingPayload:
        return _finding(*await attempt(inspections.decide_finding(actor_of(info), id, True, note)))

    @strawberry.mutation(permission_classes=[IsInspector], description="Dismiss a PROPOSED finding, saying why.")
    async def dismiss_finding(self, info: Info, id: strawberry.ID, reason: str) -> FindingPayload:
        return _finding(*await attempt(inspections.decide_finding(actor_of(info), id, False, reason)))

    @strawberry.mutation(permission_classes=[IsInspector], description="Add a finding by hand (CONFIRMED).")
    async def add_finding(self, info: Info, input: AddFindingInput) -> FindingPayload:
        work = inspections.add_finding(
            actor_of(info),
            input.inspection_id,
            input.area,
            input.summary,
            str(input.department_id) if input.department_id is not None else None,
            input.evidence_note,
        )
        return _finding(*await attempt(work))

    @strawberry.mutation(permission_classes=[IsInspector], description="Answer a checklist line: PASS, FAIL or NA.")
    async def answer_checklist_item(
        self, info: Info, item_id: strawberry.ID, result: str, note: str = ""
    ) -> ChecklistItemPayload:
        row, errors = await attempt(inspections.answer_check(actor_of(info), item_id, result, note))
        return ChecklistItemPayload(item=ChecklistItem.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsInspector],
        description="Freeze the inspection (every proposed finding decided) and make its report (reportPath).",
    )
    async def report_inspection(self, info: Info, id: strawberry.ID) -> InspectionPayload:
        return _inspection(*await attempt(report.make(actor_of(info), id)))

    @strawberry.mutation(
        permission_classes=[IsInspector],
        description="Issue a rectification notice about confirmed findings to a department, with a deadline.",
    )
    async def issue_rectification_notice(self, info: Info, input: IssueNoticeInput) -> NoticePayload:
        work = notices.issue(
            actor_of(info),
            [str(i) for i in input.finding_ids],
            str(input.department_id),
            input.requirement,
            input.deadline,
        )
        return _notice(*await attempt(work))

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The department's head or deputy says what was done, with evidence files (ISSUED or RETURNED).",
    )
    async def answer_rectification_notice(
        self, info: Info, id: strawberry.ID, text: str, files: list[NoticeFileInput] | None = None
    ) -> NoticePayload:
        uploads = [notices.Upload(f.name, f.content_type, f.content_base64) for f in files or []]
        return _notice(*await attempt(notices.answer(actor_of(info), id, text, uploads)))

    @strawberry.mutation(
        permission_classes=[IsInspector], description="The inspection's lead or a member verifies an ANSWERED notice."
    )
    async def verify_rectification_notice(self, info: Info, id: strawberry.ID) -> NoticePayload:
        return _notice(*await attempt(notices.check(actor_of(info), id, True, "")))

    @strawberry.mutation(
        permission_classes=[IsInspector],
        description="The inspection's lead or a member sends an ANSWERED notice back, saying why.",
    )
    async def return_rectification_notice(self, info: Info, id: strawberry.ID, reason: str) -> NoticePayload:
        return _notice(*await attempt(notices.check(actor_of(info), id, False, reason)))

    @strawberry.mutation(permission_classes=[IsSupervisor], description="Schedule a periodic inspection.")
    async def add_inspection_schedule(self, info: Info, input: InspectionScheduleInput) -> InspectionSchedulePayload:
        work = inspections.add_schedule(
            info.context.rt,
            actor_of(info),
            input.title,
            input.areas,
            input.cadence,
            input.day,
            str(input.lead_id) if input.lead_id is not None else None,
        )
        row, errors = await attempt(work)
        return InspectionSchedulePayload(schedule=InspectionSchedule.of(row) if row else None, errors=errors)
