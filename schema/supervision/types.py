"""GraphQL object types and payloads: supervision (POLICY 7)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import strawberry

from resolvers.core import clock
from resolvers.core import models as m
from resolvers.supervision import notices
from schema.core.context import Info
from schema.core.payloads import UserError
from schema.people.types import Department, Person

strawberry.enum(
    m.InspectionKind, description="PERIODIC (from a schedule), SPOT (unannounced, now), SPECIAL (one topic)."
)
strawberry.enum(m.InspectionStatus, description="PLANNED → IN_PROGRESS → REPORTED (frozen).")
strawberry.enum(m.FindingStatus, description="PROPOSED from the data until the inspector CONFIRMS or DISMISSES it.")
strawberry.enum(
    m.NoticeStatus,
    description="ISSUED → ANSWERED by the department → VERIFIED, or RETURNED to answer again.",
)


async def _person(info: Info, person_id: int | None) -> Person | None:
    row = await info.context.loaders.person.load(person_id) if person_id is not None else None
    return Person.of(row) if row else None


async def _department(info: Info, department_id: int | None) -> Department | None:
    row = await info.context.loaders.department.load(department_id) if department_id is not None else None
    return Department.of(row) if row else None


@strawberry.type(description="Someone on the supervision team, and why (the role, or an inspection they are on).")
class TeamMember:
    person: Person = strawberry.field(description="The team member.")
    why: list[str] = strawberry.field(
        description='Why they are on it: "SUPERVISOR" (the role), "leads inspection #12", "on inspection #12" '
        "(inspections not yet reported)."
    )


@strawberry.type(description="A line of an inspection's checklist, drawn from the policy's area.")
class ChecklistItem:
    id: strawberry.ID = strawberry.field(description="Opaque id; named in answerChecklistItem.")
    area: str = strawberry.field(description="entry, visitors, items, devices or data.")
    text: str = strawberry.field(description="What to check, in the policy's words.")
    result: str | None = strawberry.field(description="PASS, FAIL or NA; null until answered.")
    note: str = strawberry.field(description="The inspector's note with the answer; empty if none.")
    answered_at: datetime | None = strawberry.field(description="When it was last answered; null until then.")

    @classmethod
    def of(cls, row: m.ChecklistItem) -> ChecklistItem:
        return cls(
            id=strawberry.ID(str(row.id)),
            area=row.area,
            text=row.text,
            result=row.result,
            note=row.note,
            answered_at=row.answered_at,
        )


@strawberry.type(description="A fact found in an inspection: proposed from the data, or added by the inspector.")
class Finding:
    id: strawberry.ID = strawberry.field(
        description="Opaque id; named in confirmFinding, dismissFinding and issueRectificationNotice."
    )
    inspection_id: strawberry.ID = strawberry.field(description="The inspection it was found in.")
    source: str = strawberry.field(description='The finding source\'s name, or "manual".')
    key: str = strawberry.field(description="Names the same fact on every run of its source.")
    area: str = strawberry.field(description="entry, visitors, items, devices or data.")
    summary: str = strawberry.field(description="The fact in one sentence, for people.")
    subject_type: str | None = strawberry.field(
        description="What the fact is about (person, credential, grant, gate, device, visit, asset, item, "
        "site…); null for a manual finding."
    )
    subject_id: str | None = strawberry.field(
        description="The id of that subject (as subjectType says); null when none."
    )
    evidence_json: str = strawberry.field(description="The evidence the source gave (ids and figures), as JSON.")
    status: m.FindingStatus = strawberry.field(description="PROPOSED, CONFIRMED or DISMISSED.")
    reason: str = strawberry.field(description="Why it was dismissed (or a note on confirming).")
    decided_at: datetime | None = strawberry.field(
        description="When it was confirmed or dismissed; null while PROPOSED."
    )
    department_id_: strawberry.Private[int | None]
    decided_by_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.Finding) -> Finding:
        return cls(
            id=strawberry.ID(str(row.id)),
            inspection_id=strawberry.ID(str(row.inspection_id)),
            source=row.source,
            key=row.key,
            area=row.area,
            summary=row.summary,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            evidence_json=json.dumps(row.evidence, ensure_ascii=False, sort_keys=True),
            status=row.status,
            reason=row.reason,
            decided_at=row.decided_at,
            department_id_=row.department_id,
            decided_by_id_=row.decided_by_id,
        )

    @strawberry.field(description="The department that would answer a notice about it, when known.")
    async def department(self, info: Info) -> Department | None:
        return await _department(info, self.department_id_)

    @strawberry.field(description="Who confirmed or dismissed it.")
    async def decided_by(self, info: Info) -> Person | None:
        return await _person(info, self.decided_by_id_)


@strawberry.type(description="Evidence a department filed with its answer.")
class NoticeFile:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    name: str = strawberry.field(description="The file's name as the department gave it.")
    content_type: str = strawberry.field(description="application/pdf, image/png, image/jpeg or text/plain.")
    size: int = strawberry.field(description="Its size in bytes (at most 40 KiB).")
    uploaded_at: datetime = strawberry.field(description="When it was filed with an answer.")
    data_: strawberry.Private[bytes]

    @strawberry.field(description="The file's content, base64.")
    def content_base64(self) -> str:
        return base64.b64encode(self.data_).decode()

    @classmethod
    def of(cls, row: m.NoticeFile) -> NoticeFile:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            content_type=row.content_type,
            size=row.size,
            uploaded_at=row.uploaded_at,
            data_=bytes(row.data),
        )


@strawberry.type(description="A rectification notice (POLICY 7.3): a requirement and a deadline to a department.")
class RectificationNotice:
    id: strawberry.ID = strawberry.field(
        description="Opaque id; named in answer-, verify- and returnRectificationNotice."
    )
    inspection_id: strawberry.ID = strawberry.field(description="The inspection that issued it.")
    finding_ids: list[strawberry.ID] = strawberry.field(description="The confirmed findings it is about.")
    requirement: str = strawberry.field(description="What the department must put right.")
    deadline: datetime = strawberry.field(
        description="By when it must be answered and verified; past it, the upkeep escalates it."
    )
    status: m.NoticeStatus = strawberry.field(description="ISSUED, ANSWERED, RETURNED or VERIFIED.")
    issued_at: datetime = strawberry.field(description="When it was issued.")
    answer: str = strawberry.field(
        description="What the department says was done (the latest answer); empty until answered."
    )
    answered_at: datetime | None = strawberry.field(description="When it was last answered; null until then.")
    return_reason: str = strawberry.field(description="Why the last answer was sent back; empty otherwise.")
    verified_at: datetime | None = strawberry.field(
        description="When the inspection's lead or a member verified the answer; null until then."
    )
    escalated_at: datetime | None = strawberry.field(
        description="When it was escalated, past its deadline and not verified; null otherwise."
    )
    overdue: bool = strawberry.field(description="Past its deadline and not verified.")
    department_id_: strawberry.Private[int]
    answered_by_id_: strawberry.Private[int | None]
    issued_by_id_: strawberry.Private[int]
    verified_by_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.RectificationNotice) -> RectificationNotice:
        return cls(
            id=strawberry.ID(str(row.id)),
            inspection_id=strawberry.ID(str(row.inspection_id)),
            finding_ids=[strawberry.ID(str(i)) for i in row.finding_ids],
            requirement=row.requirement,
            deadline=row.deadline,
            status=row.status,
            issued_at=row.issued_at,
            answer=row.answer,
            answered_at=row.answered_at,
            return_reason=row.return_reason,
            verified_at=row.verified_at,
            escalated_at=row.escalated_at,
            overdue=notices.overdue(row, clock.now()),
            department_id_=row.department_id,
            answered_by_id_=row.answered_by_id,
            issued_by_id_=row.issued_by_id,
            verified_by_id_=row.verified_by_id,
        )

    @strawberry.field(description="The department that answers it.")
    async def department(self, info: Info) -> Department | None:
        return await _department(info, self.department_id_)

    @strawberry.field(description="Who answered (the department's head or deputy).")
    async def answered_by(self, info: Info) -> Person | None:
        return await _person(info, self.answered_by_id_)

    @strawberry.field(description="Who issued it.")
    async def issued_by(self, info: Info) -> Person | None:
        return await _person(info, self.issued_by_id_)

    @strawberry.field(description="Who verified the answer.")
    async def verified_by(self, info: Info) -> Person | None:
        return await _person(info, self.verified_by_id_)

    @strawberry.field(description="The evidence filed with the answers.")
    async def files(self) -> list[NoticeFile]:
        rows = await m.NoticeFile.filter(notice_id=int(self.id)).order_by("id")
        return [NoticeFile.of(r) for r in rows]


@strawberry.type(description="An inspection (POLICY 7.2): its checklist, findings, notices and report.")
class Inspection:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    kind: m.InspectionKind = strawberry.field(description="PERIODIC, SPOT or SPECIAL.")
    title: str = strawberry.field(description="Its title, as its lead named it.")
    topic: str = strawberry.field(description="A SPECIAL inspection's one topic; empty for the others.")
    areas: list[str] = strawberry.field(description="What it covers: some of entry, visitors, items, devices, data.")
    period_start: datetime = strawberry.field(description="The start of the period whose data it looks at (included).")
    period_end: datetime = strawberry.field(description="The end of that period (excluded).")
    sample: str = strawberry.field(description="What a spot check sampled, in words; empty if nothing was said.")
    sample_department_ids: list[strawberry.ID] = strawberry.field(
        description="A spot check's sample: only facts about these departments (and site-wide ones) are "
        "proposed; empty for no limit."
    )
    status: m.InspectionStatus = strawberry.field(description="PLANNED, IN_PROGRESS or REPORTED (frozen).")
    schedule_id: strawberry.ID | None = strawberry.field(
        description="The schedule that opened it; null if it was not opened by one."
    )
    created_at: datetime = strawberry.field(description="When it was planned or started.")
    started_at: datetime | None = strawberry.field(description="When it was started; null while PLANNED.")
    reported_at: datetime | None = strawberry.field(description="When it was reported (frozen); null until then.")
    report_path: str | None = strawberry.field(description="Where the report PDF is downloaded, once reported.")
    lead_id_: strawberry.Private[int]
    member_ids_: strawberry.Private[list[int]]

    @classmethod
    def of(cls, row: m.Inspection) -> Inspection:
        reported = row.status == m.InspectionStatus.REPORTED
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            title=row.title,
            topic=row.topic,
            areas=list(row.areas),
            period_start=row.period_start,
            period_end=row.period_end,
            sample=row.sample,
            sample_department_ids=[strawberry.ID(str(i)) for i in row.sample_department_ids or []],
            status=row.status,
            schedule_id=strawberry.ID(str(row.schedule_id)) if row.schedule_id is not None else None,
            created_at=row.created_at,
            started_at=row.started_at,
            reported_at=row.reported_at,
            report_path=f"/supervision/inspections/{row.id}.pdf" if reported else None,
            lead_id_=row.lead_id,
            member_ids_=list(row.member_ids or []),
        )

    @strawberry.field(description="Who leads it.")
    async def lead(self, info: Info) -> Person | None:
        return await _person(info, self.lead_id_)

    @strawberry.field(description="Who else is on it (HR, finance, audit join: POLICY 7.1).")
    async def members(self, info: Info) -> list[Person]:
        found = [await _person(info, i) for i in self.member_ids_]
        return [p for p in found if p is not None]

    @strawberry.field(description="The checklist, in the policy's order of areas.")
    async def checklist(self) -> list[ChecklistItem]:
        rows = await m.ChecklistItem.filter(inspection_id=int(self.id)).order_by("position")
        return [ChecklistItem.of(r) for r in rows]

    @strawberry.field(description="Its findings, optionally of one status.")
    async def findings(self, status: m.FindingStatus | None = None) -> list[Finding]:
        query = m.Finding.filter(inspection_id=int(self.id))
        if status is not None:
            query = query.filter(status=status)
        return [Finding.of(r) for r in await query.order_by("id")]

    @strawberry.field(description="The rectification notices it issued.")
    async def notices(self) -> list[RectificationNotice]:
        rows = await m.RectificationNotice.filter(inspection_id=int(self.id)).order_by("id")
        return [RectificationNotice.of(r) for r in rows]


@strawberry.type(description="A periodic inspection's schedule: the upkeep opens one when it falls due.")
class InspectionSchedule:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    title: str = strawberry.field(description="The title each inspection it opens gets.")
    areas: list[str] = strawberry.field(
        description="What those inspections cover: some of entry, visitors, items, devices, data."
    )
    cadence: str = strawberry.field(description="MONTHLY or QUARTERLY.")
    day: int = strawberry.field(description="The day of the month it opens (1-28).")
    next_due: str = strawberry.field(description="The next day it opens, YYYY-MM-DD.")
    active: bool = strawberry.field(description="Whether the upkeep still opens inspections from it.")
    lead_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: m.InspectionSchedule) -> InspectionSchedule:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            areas=list(row.areas),
            cadence=row.cadence,
            day=row.day,
            next_due=row.next_due.isoformat(),
            active=row.active,
            lead_id_=row.lead_id,
        )

    @strawberry.field(description="Who leads the inspections it opens.")
    async def lead(self, info: Info) -> Person | None:
        return await _person(info, self.lead_id_)


@strawberry.type(description="A registered finding source: what the data is asked in an area.")
class FindingSource:
    name: str = strawberry.field(description="Its name, as findings' source says (door_forced, stock_difference…).")
    area: str = strawberry.field(
        description="The area whose inspections ask it: entry, visitors, items, devices or data."
    )
    title: str = strawberry.field(description="What it looks for, in words (the checklist line it adds).")


@strawberry.type(description="One department's rectification notices, counted.")
class DepartmentNotices:
    department: Department = strawberry.field(description="The department the notices were issued to.")
    open: int = strawberry.field(description="Issued, answered or returned: not verified yet.")
    overdue: int = strawberry.field(description="Open and past the deadline.")
    escalated: int = strawberry.field(description="Open and escalated.")
    verified: int = strawberry.field(description="Answered and verified: put right.")


@strawberry.type(description="Supervision as the executives follow it (POLICY 7.3 'those who do not fix it').")
class ExecutiveSupervisionView:
    departments: list[DepartmentNotices] = strawberry.field(
        description="Each department that has had a notice, with its notices counted."
    )
    escalated: list[RectificationNotice] = strawberry.field(description="Escalated notices not verified yet.")
    reported_inspections: list[Inspection] = strawberry.field(description="The latest 50 reported, newest first.")


@strawberry.type(description="The result of a step of an inspection.")
class InspectionPayload:
    inspection: Inspection | None = strawberry.field(description="The inspection after the step; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of a decision on a finding, or a finding added.")
class FindingPayload:
    finding: Finding | None = strawberry.field(description="The finding after the step; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of asking the finding sources.")
class FindingsPayload:
    findings: list[Finding] = strawberry.field(description="The findings newly PROPOSED by this run; empty on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of answering a checklist line.")
class ChecklistItemPayload:
    item: ChecklistItem | None = strawberry.field(description="The line as answered; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of a step of a rectification notice.")
class NoticePayload:
    notice: RectificationNotice | None = strawberry.field(description="The notice after the step; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of scheduling a periodic inspection.")
class InspectionSchedulePayload:
    schedule: InspectionSchedule | None = strawberry.field(description="The schedule; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")


@strawberry.type(description="The result of a change to the supervision team.")
class TeamMemberPayload:
    person: Person | None = strawberry.field(description="The person after the change; null on errors.")
    errors: list[UserError] = strawberry.field(description="What the caller can fix; empty on success.")
