"""Erasure (README "Retention and erasure") reaches supervision's records (issue 18): a finding's
summary and evidence, a checklist note, a notice's requirement and answer, a reported
inspection's frozen report and a plain-text evidence file name the erased person by the
pseudonym afterwards; another person's name, ids, a PDF or image file stay as they were.
On SQLite (plain ORM updates: no SQL of a dialect's own)."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from resolvers.core.models import (
    ChecklistItem,
    Finding,
    FindingStatus,
    Inspection,
    InspectionKind,
    InspectionStatus,
    NoticeFile,
    NoticeStatus,
    Person,
    PersonKind,
    PersonStatus,
    RectificationNotice,
)
from resolvers.core.settings import Settings
from resolvers.people import erasure
from resolvers.runtime import Runtime
from tests.dialects import run_on

PNG = b"\x89PNG\r\n\x1a\n" + "張偉".encode()  # a file not read as text: left as filed


async def check_erasure_of_supervision_text() -> None:
    rt = Runtime.create(Settings.from_env({"GATEHOUSE_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}))
    now = datetime.now(UTC)
    zhang = await Person.create(
        kind=PersonKind.EMPLOYEE,
        display_name="張偉",
        username="zhangwei",
        status=PersonStatus.OFFBOARDED,
        roles=["EMPLOYEE"],
    )
    lina = await Person.create(kind=PersonKind.EMPLOYEE, display_name="李娜", username="lina", roles=["EMPLOYEE"])
    summary = "access of 張偉 to Management area was due for review on 2026-11-01"
    inspection = await Inspection.create(
        kind=InspectionKind.SPOT,
        title="Spot check after 張偉's report",
        areas=["entry"],
        period_start=now - timedelta(days=7),
        period_end=now,
        status=InspectionStatus.REPORTED,
        lead_id=lina.id,
        member_ids=[zhang.id],
        created_at=now,
        report={"lead": "李娜", "members": ["張偉"], "findings": [{"id": 1, "summary": summary}]},
    )
    check = await ChecklistItem.create(
        inspection=inspection, position=0, area="entry", text="Grants reviewed", result="FAIL", note="張偉 not reviewed"
    )
    finding = await Finding.create(
        inspection=inspection,
        source="grant_review_overdue",
        key="grant_review_overdue:7:2026-11-01",
        area="entry",
        summary=summary,
        evidence={"grantId": 7, "note": "張偉 said so"},
        status=FindingStatus.CONFIRMED,
        reason="zhangwei confirmed it",
        created_at=now,
    )
    notice = await RectificationNotice.create(
        inspection=inspection,
        finding_ids=[finding.id],
        department_id=1,
        requirement="复核張偉的权限",
        deadline=now + timedelta(days=7),
        status=NoticeStatus.ANSWERED,
        issued_by_id=lina.id,
        issued_at=now,
        answer="張偉's access reviewed by 李娜",
        answered_by_id=lina.id,
        answered_at=now,
    )
    text = "签到：張偉、李娜".encode()
    files = [
        await NoticeFile.create(
            notice=notice,
            name=name,
            content_type=kind,
            size=len(data),
            data=data,
            uploaded_by_id=lina.id,
            uploaded_at=now,
        )
        for name, kind, data in (("張偉.txt", "text/plain", text), ("scan.png", "image/png", PNG))
    ]

    await erasure.erase_by_username(rt, "zhangwei", "asked in writing")

    label = f"Erased person {zhang.id}"
    summary_after = summary.replace("張偉", label)
    inspection = await Inspection.get(id=inspection.id)
    assert (inspection.title, inspection.member_ids, inspection.lead_id) == (
        f"Spot check after {label}'s report",
        [zhang.id],
        lina.id,
    )
    assert inspection.report == {"lead": "李娜", "members": [label], "findings": [{"id": 1, "summary": summary_after}]}
    assert (await ChecklistItem.get(id=check.id)).note == f"{label} not reviewed"
    finding = await Finding.get(id=finding.id)
    assert (finding.summary, finding.evidence, finding.reason, finding.key) == (
        summary_after,
        {"grantId": 7, "note": f"{label} said so"},
        f"{label} confirmed it",
        "grant_review_overdue:7:2026-11-01",
    )
    notice = await RectificationNotice.get(id=notice.id)
    assert (notice.requirement, notice.answer, notice.answered_by_id) == (
        f"复核{label}的权限",
        f"{label}'s access reviewed by 李娜",
        lina.id,
    )
    after = {f.id: f for f in await NoticeFile.filter(notice_id=notice.id)}
    redacted = f"签到：{label}、李娜".encode()
    plain, image = after[files[0].id], after[files[1].id]
    assert (plain.name, bytes(plain.data), plain.size) == (f"{label}.txt", redacted, len(redacted))
    assert (image.name, bytes(image.data), image.size) == ("scan.png", PNG, len(PNG))


async def test_an_erased_person_is_named_by_the_pseudonym_in_supervision_records(tmp_path: Path) -> None:
    await run_on(f"sqlite://{tmp_path / 'gh.sqlite3'}", check_erasure_of_supervision_text)
