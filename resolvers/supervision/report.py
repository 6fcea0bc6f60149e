"""An inspection's report (POLICY 7.2 "each with a report"): frozen when it is made (who, the
checklist as answered, the findings with their evidence) and drawn as a PDF with the print font,
so names in any script come out; the notices are shown as they stand when it is downloaded,
since their follow-up goes on after the report (POLICY 7.3)."""

from __future__ import annotations

import json
from typing import Any

from fpdf import FPDF

from resolvers.core import clock, fonts
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError
from resolvers.core.models import (
    ChecklistItem,
    Department,
    Finding,
    FindingStatus,
    Inspection,
    InspectionStatus,
    NoticeFile,
    Person,
    RectificationNotice,
)
from resolvers.people import audit
from resolvers.supervision import inspections

MAX_EVIDENCE_CHARS = 300


async def _names(ids: set[int]) -> dict[int, str]:
    rows = await Person.filter(id__in=ids).values_list("id", "display_name") if ids else []
    return {int(pid): str(name) for pid, name in rows}


async def make(actor: Actor, inspection_id: str) -> Inspection:
    """Freeze the inspection: every proposed finding must be confirmed or dismissed first."""
    inspection = await inspections.get(inspection_id)
    if not inspections.may_work_on(actor, inspection):
        raise Forbidden("only the inspection's lead and members report it")
    if inspection.status != InspectionStatus.IN_PROGRESS:
        raise UserError(ErrorCode.CONFLICT, "only an inspection in progress is reported", "id")
    findings = await Finding.filter(inspection_id=inspection.id).order_by("id")
    if any(f.status == FindingStatus.PROPOSED for f in findings):
        raise UserError(ErrorCode.CONFLICT, "confirm or dismiss every proposed finding first", "id")
    checklist = await ChecklistItem.filter(inspection_id=inspection.id).order_by("position")
    departments = dict(await Department.all().values_list("id", "name"))
    names = await _names({inspection.lead_id, *inspection.member_ids})
    now = clock.now()
    snapshot: dict[str, object] = {
        "lead": names.get(inspection.lead_id, f"#{inspection.lead_id}"),
        "members": [names.get(m, f"#{m}") for m in inspection.member_ids],
        "checklist": [
            {"area": c.area, "text": c.text, "result": c.result or "not answered", "note": c.note} for c in checklist
        ],
        "findings": [
            {
                "id": f.id,
                "area": f.area,
                "source": f.source,
                "status": f.status.value,
                "summary": f.summary,
                "department": departments.get(f.department_id, "") if f.department_id else "",
                "reason": f.reason,
                "evidence": json.dumps(f.evidence, ensure_ascii=False, sort_keys=True)[:MAX_EVIDENCE_CHARS],
            }
            for f in findings
        ],
    }
    before = inspections.state(inspection)
    if not await Inspection.filter(id=inspection.id, status=InspectionStatus.IN_PROGRESS).update(
        status=InspectionStatus.REPORTED, reported_at=now, report=snapshot
    ):
        raise UserError(ErrorCode.CONFLICT, "this inspection changed meanwhile", "id")
    await inspection.refresh_from_db()
    audit.note_change("inspection", inspection.id, before, inspections.state(inspection))
    return inspection


async def contents(inspection: Inspection) -> dict[str, Any]:
    """What the PDF shows: the frozen report and the notices as they stand now."""
    departments = dict(await Department.all().values_list("id", "name"))
    notices = await RectificationNotice.filter(inspection_id=inspection.id).order_by("id")
    answered = await _names({n.answered_by_id for n in notices if n.answered_by_id is not None})
    files: dict[int, list[str]] = {}
    for notice_id, name, size in (
        await NoticeFile.filter(notice_id__in=[n.id for n in notices])
        .order_by("id")
        .values_list("notice_id", "name", "size")
    ):
        files.setdefault(int(notice_id), []).append(f"{name} ({size} bytes)")
    return {
        "id": inspection.id,
        "kind": inspection.kind.value,
        "title": inspection.title,
        "topic": inspection.topic,
        "sample": inspection.sample,
        "areas": list(inspection.areas),
        "periodStart": inspection.period_start.isoformat(),
        "periodEnd": inspection.period_end.isoformat(),
        "reportedAt": inspection.reported_at.isoformat() if inspection.reported_at else "",
        "drawnAt": clock.now().isoformat(),
        **(inspection.report or {}),
        "notices": [
            {
                "id": n.id,
                "department": str(departments.get(n.department_id, f"#{n.department_id}")),
                "requirement": n.requirement,
                "deadline": n.deadline.isoformat(),
                "status": n.status.value,
                "escalated": n.escalated_at is not None,
                "answer": n.answer,
                "answeredBy": answered.get(n.answered_by_id, "") if n.answered_by_id else "",
                "findings": list(n.finding_ids),
                "files": files.get(n.id, []),
            }
            for n in notices
        ],
    }


def pdf(c: dict[str, Any]) -> bytes:
    """Drawn in the drawing process (api/drawing.py): plain data in, bytes out."""
    doc = FPDF()
    doc.add_page()
    family = fonts.pdf_font(doc)

    def line(text: str, size: int = 10, height: float = 5.5) -> None:
        doc.set_font(family, "", size)
        doc.multi_cell(0, height, fonts.pdf_text(family, text), new_x="LMARGIN", new_y="NEXT")

    line(f"Inspection report #{c['id']}: {c['title']}", 15, 9)
    line(f"{c['kind']} inspection, areas: {', '.join(c['areas'])}")
    if c["topic"]:
        line(f"Topic: {c['topic']}")
    if c["sample"]:
        line(f"Sample: {c['sample']}")
    line(f"Period: {c['periodStart']} to {c['periodEnd']}; reported {c['reportedAt']}")
    line(f"Lead: {c.get('lead', '')}; members: {', '.join(c.get('members', [])) or 'none'}")
    doc.ln(3)
    line("Checklist", 12, 7)
    for item in c.get("checklist", []):
        note = f" ({item['note']})" if item["note"] else ""
        line(f"[{item['result']}] {item['area']}: {item['text']}{note}", 9, 4.8)
    doc.ln(3)
    line("Findings", 12, 7)
    for f in c.get("findings", []):
        where = f" [{f['department']}]" if f["department"] else ""
        reason = f" Reason: {f['reason']}" if f["reason"] else ""
        line(f"#{f['id']} {f['status']} {f['area']}/{f['source']}{where}: {f['summary']}.{reason}", 9, 4.8)
        if f["evidence"] not in ("", "{}"):
            line(f"    evidence: {f['evidence']}", 8, 4.2)
    doc.ln(3)
    line(f"Rectification notices (as of {c['drawnAt']})", 12, 7)
    for n in c["notices"]:
        flag = ", ESCALATED" if n["escalated"] else ""
        line(f"#{n['id']} to {n['department']}, due {n['deadline']}: {n['status']}{flag}", 9, 4.8)
        line(f"    requirement: {n['requirement']}", 9, 4.8)
        if n["answer"]:
            line(f"    answer by {n['answeredBy']}: {n['answer']}", 9, 4.8)
        if n["files"]:
            line(f"    evidence filed: {', '.join(n['files'])}", 9, 4.8)
    if not c["notices"]:
        line("none", 9, 4.8)
    return bytes(doc.output())
