"""Inspections (POLICY 7.2): periodic (from a schedule), spot (started now, on a sample) and
special (one topic); each has a checklist from the policy's areas, findings proposed from the
data or added by hand, and ends in a report frozen when it is made.

Only the inspection's lead and members work on it; the GraphQL layer writes one audit entry per
step with the before/after noted here."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import (
    ChecklistItem,
    Department,
    Finding,
    FindingStatus,
    Inspection,
    InspectionKind,
    InspectionSchedule,
    InspectionStatus,
    Person,
    PersonKind,
    PersonStatus,
    Role,
)
from resolvers.people import audit
from resolvers.runtime import Runtime
from resolvers.supervision import checklists
from resolvers.supervision.proposals import AREAS, Period, propose

CADENCES = {"MONTHLY": 1, "QUARTERLY": 3}
RESULTS = ("PASS", "FAIL", "NA")
MAX_SPOT_DAYS = 366
TEAM_ROLES = frozenset({Role.SUPERVISOR.value})
# Who may join an inspection (POLICY 7.1: security leads; HR, finance and audit join).
JOINING_ROLES = frozenset(
    r.value for r in (Role.ADMIN, Role.SUPERVISOR, Role.SECURITY_ADMIN, Role.HR, Role.FINANCE, Role.AUDITOR)
)


def _areas(areas: list[str], field: str = "areas") -> list[str]:
    wanted = set(areas)
    unknown = wanted - set(AREAS)
    if unknown or not wanted:
        raise UserError(ErrorCode.INVALID, f"areas are some of {', '.join(AREAS)}", field)
    return [a for a in AREAS if a in wanted]


def _text(value: str, field: str, max_length: int) -> str:
    return validation.name(value, field, max_length)


async def _person(person_id: str | int, field: str) -> Person:
    person = await Person.get_or_none(
        id=parse_id(person_id, "person", field), kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE
    )
    if person is None:
        raise not_found("active employee", field)
    return person


async def _departments(ids: list[str], field: str) -> list[int]:
    parsed = sorted({parse_id(i, "department", field) for i in ids})
    if parsed and await Department.filter(id__in=parsed).count() != len(parsed):
        raise not_found("department", field)
    return parsed


async def team() -> list[tuple[Person, list[str]]]:
    """Who is on the team: the holders of SUPERVISOR, and anyone leading or on an inspection not
    yet reported (HR, finance, audit join for an inspection: POLICY 7.1), with why."""
    rows = await Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE).order_by("id")
    named: dict[int, set[str]] = {}
    for inspection in await Inspection.filter(status__not=InspectionStatus.REPORTED).values(
        "id", "lead_id", "member_ids"
    ):
        named.setdefault(inspection["lead_id"], set()).add(f"leads inspection #{inspection['id']}")
        for member in inspection["member_ids"] or []:
            named.setdefault(int(member), set()).add(f"on inspection #{inspection['id']}")
    found = []
    for person in rows:
        why = ["SUPERVISOR"] if TEAM_ROLES.intersection(person.roles or []) else []
        why += sorted(named.get(person.id, ()))
        if why:
            found.append((person, why))
    return found


async def set_team_member(actor: Actor, person_id: str, member: bool) -> Person:
    """Appoint to the team (the role SUPERVISOR) or take off it: roles are otherwise given only at
    onboarding. ADMIN only, as the other roles that read the site's records (schema permissions)."""
    person = await _person(person_id, "personId")
    held = set(person.roles or [])
    wanted = held | {Role.SUPERVISOR.value} if member else held - {Role.SUPERVISOR.value}
    if wanted == held:
        raise UserError(
            ErrorCode.CONFLICT, f"{person.display_name} is {'already' if member else 'not'} on the team", "personId"
        )
    await Person.filter(id=person.id).update(roles=sorted(wanted))
    audit.note_change("person", person.id, {"roles": sorted(held)}, {"roles": sorted(wanted)})
    await person.refresh_from_db()
    return person


def may_work_on(actor: Actor, inspection: Inspection) -> bool:
    return actor.person_id == inspection.lead_id or actor.person_id in (inspection.member_ids or [])


async def get(inspection_id: str | int, field: str = "id") -> Inspection:
    inspection = await Inspection.get_or_none(id=parse_id(inspection_id, "inspection", field))
    if inspection is None:
        raise not_found("inspection", field)
    return inspection


async def _working(actor: Actor, inspection_id: str | int, field: str = "inspectionId") -> Inspection:
    """The inspection, for its lead or members only, and only while it is not reported."""
    inspection = await get(inspection_id, field)
    if not may_work_on(actor, inspection):
        raise Forbidden("only the inspection's lead and members work on it")
    if inspection.status == InspectionStatus.REPORTED:
        raise UserError(ErrorCode.CONFLICT, "this inspection is reported: it no longer changes", field)
    return inspection


def state(inspection: Inspection) -> dict[str, Any]:
    return {
        "kind": inspection.kind,
        "title": inspection.title,
        "status": inspection.status,
        "leadId": inspection.lead_id,
        "memberIds": inspection.member_ids,
        "areas": inspection.areas,
    }


async def _create(
    kind: InspectionKind,
    title: str,
    topic: str,
    areas: list[str],
    period: Period,
    lead_id: int,
    member_ids: list[int],
    *,
    status: InspectionStatus,
    sample: str = "",
    sample_department_ids: list[int] | None = None,
    schedule_id: int | None = None,
) -> Inspection:
    now = clock.now()
    async with in_transaction():
        inspection = await Inspection.create(
            kind=kind,
            title=title,
            topic=topic,
            areas=areas,
            period_start=period.start,
            period_end=period.end,
            sample=sample,
            sample_department_ids=sample_department_ids or [],
            status=status,
            lead_id=lead_id,
            member_ids=sorted(set(member_ids) - {lead_id}),
            schedule_id=schedule_id,
            created_at=now,
            started_at=now if status == InspectionStatus.IN_PROGRESS else None,
        )
        await ChecklistItem.bulk_create(
            [
                ChecklistItem(inspection_id=inspection.id, position=i, area=area, text=text)
                for i, (area, text) in enumerate(checklists.items_for(areas))
            ]
        )
    audit.note_change("inspection", inspection.id, None, state(inspection))
    return inspection


async def _members(ids: list[str]) -> list[int]:
    members = [await _person(i, "memberIds") for i in ids]
    if any(JOINING_ROLES.isdisjoint(p.roles or []) for p in members):
        raise UserError(
            ErrorCode.INVALID, "members hold SUPERVISOR, SECURITY_ADMIN, HR, FINANCE, AUDITOR or ADMIN", "memberIds"
        )
    return [p.id for p in members]


async def start_spot(
    actor: Actor,
    title: str,
    areas: list[str],
    sample: str,
    sample_department_ids: list[str],
    days: int,
    member_ids: list[str],
) -> Inspection:
    """An unannounced check, started now, over the last `days` days, on a sample (a description,
    and the departments it is limited to, if any)."""
    if not 1 <= days <= MAX_SPOT_DAYS:
        raise UserError(ErrorCode.INVALID, f"days is between 1 and {MAX_SPOT_DAYS}", "days")
    now = clock.now()
    return await _create(
        InspectionKind.SPOT,
        _text(title, "title", 200),
        "",
        _areas(areas),
        Period(now - timedelta(days=days), now),
        actor.person_id,
        await _members(member_ids),
        status=InspectionStatus.IN_PROGRESS,
        sample=" ".join(sample.split())[:1000],
        sample_department_ids=await _departments(sample_department_ids, "sampleDepartmentIds"),
    )


async def plan(
    actor: Actor,
    kind: InspectionKind,
    title: str,
    topic: str,
    areas: list[str],
    period_start: datetime,
    period_end: datetime,
    lead_id: str | None,
    member_ids: list[str],
) -> Inspection:
    """A special check on one topic, or a periodic one planned by hand."""
    if kind == InspectionKind.SPOT:
        raise UserError(ErrorCode.INVALID, "a spot check starts now: startSpotInspection", "kind")
    if period_end <= period_start:
        raise UserError(ErrorCode.INVALID, "the period ends after it starts", "periodEnd")
    topic = " ".join(topic.split())
    if kind == InspectionKind.SPECIAL and not topic:
        raise UserError(ErrorCode.INVALID, "a special inspection names its topic", "topic")
    lead = (await _person(lead_id, "leadId")).id if lead_id is not None else actor.person_id
    return await _create(
        kind,
        _text(title, "title", 200),
        topic[:500],
        _areas(areas),
        Period(period_start, period_end),
        lead,
        await _members(member_ids),
        status=InspectionStatus.PLANNED,
    )


async def begin(actor: Actor, inspection_id: str) -> Inspection:
    inspection = await _working(actor, inspection_id, "id")
    if inspection.status != InspectionStatus.PLANNED:
        raise UserError(ErrorCode.CONFLICT, "this inspection has started already", "id")
    before = state(inspection)
    if not await Inspection.filter(id=inspection.id, status=InspectionStatus.PLANNED).update(
        status=InspectionStatus.IN_PROGRESS, started_at=clock.now()
    ):
        raise UserError(ErrorCode.CONFLICT, "this inspection has started already", "id")
    await inspection.refresh_from_db()
    audit.note_change("inspection", inspection.id, before, state(inspection))
    return inspection


async def _in_progress(actor: Actor, inspection_id: str | int, field: str) -> Inspection:
    inspection = await _working(actor, inspection_id, field)
    if inspection.status != InspectionStatus.IN_PROGRESS:
        raise UserError(ErrorCode.CONFLICT, "start the inspection first", field)
    return inspection


# --- checklist ---------------------------------------------------------------------------------


async def answer_check(actor: Actor, item_id: str, result: str, note: str) -> ChecklistItem:
    item = await ChecklistItem.get_or_none(id=parse_id(item_id, "checklist item", "itemId"))
    if item is None:
        raise not_found("checklist item", "itemId")
    await _in_progress(actor, item.inspection_id, "itemId")
    if result not in RESULTS:
        raise UserError(ErrorCode.INVALID, "result is PASS, FAIL or NA", "result")
    note = " ".join(note.split())
    if len(note) > 1000:
        raise UserError(ErrorCode.INVALID, "must be at most 1000 characters", "note")
    before = {"result": item.result, "note": item.note}
    item.result, item.note, item.answered_by_id, item.answered_at = result, note, actor.person_id, clock.now()
    await item.save(update_fields=["result", "note", "answered_by_id", "answered_at"])
    audit.note_change("inspection_checklist_item", item.id, before, {"result": result, "note": note})
    return item


# --- findings ----------------------------------------------------------------------------------


def finding_state(finding: Finding) -> dict[str, Any]:
    return {"status": finding.status, "key": finding.key, "reason": finding.reason}


async def propose_findings(rt: Runtime, actor: Actor, inspection_id: str) -> list[Finding]:
    """Ask every source of the inspection's areas over its period; facts not yet put to this
    inspection become PROPOSED findings (a fact confirmed or dismissed once is not put again)."""
    inspection = await _in_progress(actor, inspection_id, "inspectionId")
    period = Period(inspection.period_start, inspection.period_end)
    proposals = await propose(rt, period, set(inspection.areas))  # type: ignore[arg-type]
    sample = set(inspection.sample_department_ids or [])
    known: set[str] = {str(k) for k in await Finding.filter(inspection_id=inspection.id).values_list("key", flat=True)}
    created: list[Finding] = []
    now = clock.now()
    for proposal in proposals:
        if proposal.key in known:
            continue
        if sample and proposal.department_id is not None and proposal.department_id not in sample:
            continue
        known.add(proposal.key)
        try:
            finding = await Finding.create(
                inspection_id=inspection.id,
                source=proposal.source[:64],
                key=proposal.key[:200],
                area=proposal.area,
                summary=proposal.summary[:1000],
                department_id=proposal.department_id,
                subject_type=proposal.subject_type[:32] if proposal.subject_type else None,
                subject_id=proposal.subject_id[:64] if proposal.subject_id else None,
                evidence=proposal.evidence,
                status=FindingStatus.PROPOSED,
                created_at=now,
            )
        except IntegrityError:
            continue  # proposed by a run at the same moment
        created.append(finding)
        audit.note_change("inspection_finding", finding.id, None, finding_state(finding))
    return created


async def decide_finding(actor: Actor, finding_id: str, confirm: bool, reason: str) -> Finding:
    finding = await Finding.get_or_none(id=parse_id(finding_id, "finding", "id"))
    if finding is None:
        raise not_found("finding", "id")
    await _in_progress(actor, finding.inspection_id, "id")
    reason = " ".join(reason.split())
    if not confirm and not reason:
        raise UserError(ErrorCode.INVALID, "say why the finding is dismissed", "reason")
    if len(reason) > 1000:
        raise UserError(ErrorCode.INVALID, "must be at most 1000 characters", "reason")
    status = FindingStatus.CONFIRMED if confirm else FindingStatus.DISMISSED
    before = finding_state(finding)
    if not await Finding.filter(id=finding.id, status=FindingStatus.PROPOSED).update(
        status=status, reason=reason, decided_by_id=actor.person_id, decided_at=clock.now()
    ):
        raise UserError(ErrorCode.CONFLICT, f"this finding is {finding.status.value} already", "id")
    await finding.refresh_from_db()
    audit.note_change("inspection_finding", finding.id, before, finding_state(finding))
    return finding


async def add_finding(
    actor: Actor,
    inspection_id: str,
    area: str,
    summary: str,
    department_id: str | None,
    evidence_note: str,
) -> Finding:
    """A finding the inspector saw for themselves: confirmed as it is added."""
    inspection = await _in_progress(actor, inspection_id, "inspectionId")
    (area,) = _areas([area], "area")
    summary = _text(summary, "summary", 1000)
    department = (await _departments([department_id], "departmentId"))[0] if department_id is not None else None
    now = clock.now()
    count = await Finding.filter(inspection_id=inspection.id, source="manual").count()
    finding = await Finding.create(
        inspection_id=inspection.id,
        source="manual",
        key=f"manual:{inspection.id}:{count + 1}:{now.timestamp():.6f}",
        area=area,
        summary=summary,
        department_id=department,
        evidence={"note": " ".join(evidence_note.split())[:2000]} if evidence_note.strip() else {},
        status=FindingStatus.CONFIRMED,
        created_at=now,
        decided_by_id=actor.person_id,
        decided_at=now,
    )
    audit.note_change("inspection_finding", finding.id, None, finding_state(finding))
    return finding


# --- schedules (periodic inspections) ------------------------------------------------------------


def _months_after(day: date, months: int, on: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, on)


def first_due(today: date, day: int) -> date:
    this_month = date(today.year, today.month, day)
    return this_month if this_month >= today else _months_after(today, 1, day)


async def add_schedule(
    rt: Runtime, actor: Actor, title: str, areas: list[str], cadence: str, day: int, lead_id: str | None
) -> InspectionSchedule:
    if cadence not in CADENCES:
        raise UserError(ErrorCode.INVALID, "cadence is MONTHLY or QUARTERLY", "cadence")
    if not 1 <= day <= 28:
        raise UserError(ErrorCode.INVALID, "day is between 1 and 28 (every month has it)", "day")
    lead = (await _person(lead_id, "leadId")).id if lead_id is not None else actor.person_id
    today = clock.now().astimezone(rt.settings.tz).date()
    schedule = await InspectionSchedule.create(
        title=_text(title, "title", 200),
        areas=_areas(areas),
        cadence=cadence,
        day=day,
        lead_id=lead,
        next_due=first_due(today, day),
        created_at=clock.now(),
    )
    audit.note_change(
        "inspection_schedule", schedule.id, None, {"title": schedule.title, "cadence": cadence, "day": day}
    )
    return schedule


async def open_due(rt: Runtime) -> list[Inspection]:
    """Each active schedule whose day has come opens its inspection over the period just ended
    (PLANNED, for its lead to start); a day skipped while no worker led is caught up once."""
    tz = rt.settings.tz
    today = clock.now().astimezone(tz).date()
    opened: list[Inspection] = []
    for schedule in await InspectionSchedule.filter(active=True, next_due__lte=today):
        months = CADENCES.get(schedule.cadence, 1)
        due = schedule.next_due
        following = _months_after(due, months, schedule.day)
        while following <= today:  # the latest period only: an old one is no inspection now
            due, following = following, _months_after(following, months, schedule.day)
        start = datetime.combine(_months_after(due, -months, schedule.day), time(), tzinfo=tz)
        end = datetime.combine(due, time(), tzinfo=tz)
        if not await InspectionSchedule.filter(id=schedule.id, next_due=schedule.next_due).update(next_due=following):
            continue  # another round took it
        try:
            inspection = await _create(
                InspectionKind.PERIODIC,
                f"{schedule.title} {due.isoformat()}",
                "",
                list(schedule.areas),
                Period(start, end),
                schedule.lead_id,
                [],
                status=InspectionStatus.PLANNED,
                schedule_id=schedule.id,
            )
        except IntegrityError:
            continue
        await audit.record(
            None,
            "supervision.openPeriodicInspection",
            target_type="inspection",
            target_id=inspection.id,
            detail={"scheduleId": schedule.id, "periodStart": start, "periodEnd": end},
        )
        opened.append(inspection)
    return opened
