"""Rectification notices (POLICY 7.3): a requirement and a deadline to a department, answered by
its head (or deputy) with what was done and the evidence filed, verified or sent back by the
inspection's lead or members; past the deadline and not verified, escalated once by the leading
worker's upkeep and shown on the executives' view."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.leadership import still_leads
from resolvers.core.models import (
    Department,
    Finding,
    FindingStatus,
    Inspection,
    InspectionStatus,
    NoticeFile,
    NoticeStatus,
    RectificationNotice,
)
from resolvers.people import audit
from resolvers.supervision import inspections

MAX_FILES = 5
# One answer travels in one GraphQL request, which GATEHOUSE_MAX_BODY_BYTES (64 KiB) bounds before
# it is parsed: a file's base64 fits in it with room for the rest.
MAX_FILE_BYTES = 40 * 1024
FILE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})
OPEN = (NoticeStatus.ISSUED, NoticeStatus.ANSWERED, NoticeStatus.RETURNED)


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    base64: str


def state(notice: RectificationNotice) -> dict[str, Any]:
    return {
        "status": notice.status,
        "departmentId": notice.department_id,
        "deadline": notice.deadline,
        "escalatedAt": notice.escalated_at,
        "returnReason": notice.return_reason,
    }


async def get(notice_id: str | int, field: str = "id") -> RectificationNotice:
    notice = await RectificationNotice.get_or_none(id=parse_id(notice_id, "notice", field))
    if notice is None:
        raise not_found("notice", field)
    return notice


async def answering_departments(actor: Actor) -> set[int]:
    """The departments whose notices this person answers: those they head or deputise for."""
    rows = await Department.filter(Q(head_id=actor.person_id) | Q(deputy_id=actor.person_id)).values_list(
        "id", flat=True
    )
    return {int(r) for r in rows}  # type: ignore[call-overload]


async def issue(
    actor: Actor, finding_ids: list[str], department_id: str, requirement: str, deadline: datetime
) -> RectificationNotice:
    if not finding_ids:
        raise UserError(ErrorCode.INVALID, "a notice answers one finding or more", "findingIds")
    ids = sorted({parse_id(i, "finding", "findingIds") for i in finding_ids})
    findings = await Finding.filter(id__in=ids)
    if len(findings) != len(ids):
        raise not_found("finding", "findingIds")
    if len({f.inspection_id for f in findings}) != 1:
        raise UserError(ErrorCode.INVALID, "a notice answers findings of one inspection", "findingIds")
    if any(f.status != FindingStatus.CONFIRMED for f in findings):
        raise UserError(ErrorCode.INVALID, "only confirmed findings go into a notice", "findingIds")
    inspection = await inspections.get(findings[0].inspection_id, "findingIds")
    if not inspections.may_work_on(actor, inspection):
        raise Forbidden("only the inspection's lead and members issue its notices")
    if inspection.status == InspectionStatus.REPORTED:
        raise UserError(ErrorCode.CONFLICT, "this inspection is reported: it no longer changes", "findingIds")
    department = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
    if department is None:
        raise not_found("department", "departmentId")
    requirement = " ".join(requirement.split())
    if not requirement or len(requirement) > 2000:
        raise UserError(ErrorCode.INVALID, "the requirement is 1 to 2000 characters", "requirement")
    now = clock.now()
    if deadline <= now:
        raise UserError(ErrorCode.INVALID, "the deadline is in the future", "deadline")
    notice = await RectificationNotice.create(
        inspection_id=inspection.id,
        finding_ids=ids,
        department_id=department.id,
        requirement=requirement,
        deadline=deadline,
        status=NoticeStatus.ISSUED,
        issued_by_id=actor.person_id,
        issued_at=now,
    )
    audit.note_change("rectification_notice", notice.id, None, state(notice))
    return notice


def _decoded(uploads: list[Upload]) -> list[tuple[str, str, bytes]]:
    if len(uploads) > MAX_FILES:
        raise UserError(ErrorCode.INVALID, f"at most {MAX_FILES} files", "files")
    files = []
    for upload in uploads:
        name = " ".join(upload.name.split())
        if not name or len(name) > 200:
            raise UserError(ErrorCode.INVALID, "a file's name is 1 to 200 characters", "files")
        if upload.content_type not in FILE_TYPES:
            raise UserError(ErrorCode.INVALID, f"a file is one of {', '.join(sorted(FILE_TYPES))}", "files")
        if len(upload.base64) > (MAX_FILE_BYTES * 4) // 3 + 4:
            raise UserError(ErrorCode.INVALID, f"a file is at most {MAX_FILE_BYTES} bytes", "files")
        try:
            data = base64.b64decode(upload.base64, validate=True)
        except (binascii.Error, ValueError):
            raise UserError(ErrorCode.INVALID, "a file's content is base64", "files") from None
        if not data or len(data) > MAX_FILE_BYTES:
            raise UserError(ErrorCode.INVALID, f"a file is 1 to {MAX_FILE_BYTES} bytes", "files")
        files.append((name, upload.content_type, data))
    return files


async def answer(actor: Actor, notice_id: str, text: str, uploads: list[Upload]) -> RectificationNotice:
    """The department's head or deputy says what was done and files the evidence."""
    notice = await get(notice_id)
    if notice.department_id not in await answering_departments(actor):
        raise Forbidden("only the department's head or deputy answers its notices")
    if notice.status not in (NoticeStatus.ISSUED, NoticeStatus.RETURNED):
        raise UserError(ErrorCode.CONFLICT, f"this notice is {notice.status.value}", "id")
    text = " ".join(text.split())
    if not text or len(text) > 4000:
        raise UserError(ErrorCode.INVALID, "the answer is 1 to 4000 characters", "text")
    files = _decoded(uploads)
    before = state(notice)
    now = clock.now()
    async with in_transaction():
        if not await RectificationNotice.filter(id=notice.id, status=notice.status).update(
            status=NoticeStatus.ANSWERED, answer=text, answered_by_id=actor.person_id, answered_at=now
        ):
            raise UserError(ErrorCode.CONFLICT, "this notice changed meanwhile", "id")
        for name, content_type, data in files:
            await NoticeFile.create(
                notice_id=notice.id,
                name=name,
                content_type=content_type,
                size=len(data),
                data=data,
                uploaded_by_id=actor.person_id,
                uploaded_at=now,
            )
    await notice.refresh_from_db()
    audit.note_change("rectification_notice", notice.id, before, {**state(notice), "files": [f[0] for f in files]})
    return notice


async def check(actor: Actor, notice_id: str, verified: bool, reason: str) -> RectificationNotice:
    """The inspection's lead or a member verifies the answer, or sends it back saying why."""
    notice = await get(notice_id)
    inspection = await Inspection.get(id=notice.inspection_id)
    if not inspections.may_work_on(actor, inspection):
        raise Forbidden("only the inspection's lead and members verify its notices")
    if notice.status != NoticeStatus.ANSWERED:
        raise UserError(ErrorCode.CONFLICT, "only an answered notice is verified or returned", "id")
    reason = " ".join(reason.split())
    if not verified and not reason:
        raise UserError(ErrorCode.INVALID, "say why the answer goes back", "reason")
    if len(reason) > 1000:
        raise UserError(ErrorCode.INVALID, "must be at most 1000 characters", "reason")
    changes: dict[str, Any] = (
        {"status": NoticeStatus.VERIFIED, "verified_by_id": actor.person_id, "verified_at": clock.now()}
        if verified
        else {"status": NoticeStatus.RETURNED, "return_reason": reason}
    )
    before = state(notice)
    if not await RectificationNotice.filter(id=notice.id, status=NoticeStatus.ANSWERED).update(**changes):
        raise UserError(ErrorCode.CONFLICT, "this notice changed meanwhile", "id")
    await notice.refresh_from_db()
    audit.note_change("rectification_notice", notice.id, before, state(notice))
    return notice


async def escalate_overdue() -> int:
    """Notices past their deadline and not verified: escalated once each (the conditional update
    keeps a lead changing hands from escalating twice), with an audit entry of their own."""
    now = clock.now()
    escalated = 0
    for notice in await RectificationNotice.filter(status__in=OPEN, deadline__lt=now, escalated_at=None):
        if not still_leads():
            break
        if await RectificationNotice.filter(id=notice.id, escalated_at=None).update(escalated_at=now):
            await audit.record(
                None,
                "supervision.escalateNotice",
                target_type="rectification_notice",
                target_id=notice.id,
                detail={"departmentId": notice.department_id, "deadline": notice.deadline, "status": notice.status},
            )
            escalated += 1
    return escalated


def overdue(notice: RectificationNotice, now: datetime) -> bool:
    return notice.status in OPEN and notice.deadline < now


@dataclass(frozen=True)
class DepartmentLine:
    department_id: int
    department_name: str
    open: int
    overdue: int
    escalated: int
    verified: int


async def executive_view() -> tuple[list[DepartmentLine], list[RectificationNotice], list[Inspection]]:
    """Per department: open, overdue, escalated and verified notices; the escalated ones still
    open; the inspections reported, newest first."""
    now = clock.now()
    notices = await RectificationNotice.all().order_by("id")
    names = dict(await Department.all().values_list("id", "name"))
    lines: dict[int, list[int]] = {}
    for notice in notices:
        counts = lines.setdefault(notice.department_id, [0, 0, 0, 0])
        counts[0] += notice.status in OPEN
        counts[1] += overdue(notice, now)
        counts[2] += notice.escalated_at is not None and notice.status in OPEN
        counts[3] += notice.status == NoticeStatus.VERIFIED
    per_department = [DepartmentLine(d, str(names.get(d, f"#{d}")), *counts) for d, counts in sorted(lines.items())]
    escalated = [n for n in notices if n.escalated_at is not None and n.status in OPEN]
    reported = await Inspection.filter(status=InspectionStatus.REPORTED).order_by("-reported_at").limit(50)
    return per_department, escalated, list(reported)
