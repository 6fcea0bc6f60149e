"""Grants (POLICY 3.1.2 "reviewed periodically"): past their review date, or never used."""

from __future__ import annotations

from collections import defaultdict

from tortoise.expressions import Q

from resolvers.core.models import Decision, Department, Direction, GateEvent, Grant, Person, PersonKind
from resolvers.runtime import Runtime
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source


def _holder(grant: Grant, names: dict[int, tuple[str, int | None]], departments: dict[int, str]) -> str:
    if grant.person_id is not None:
        return names.get(grant.person_id, (f"#{grant.person_id}", None))[0]
    if grant.department_id is not None:
        return f"department {departments.get(grant.department_id, f'#{grant.department_id}')}"
    return f"position {grant.position}"


def _answerer(zone_dept: int | None, grant: Grant, names: dict[int, tuple[str, int | None]]) -> int | None:
    """The zone's department grants it (its head reviews); else the holder's department."""
    if zone_dept is not None:
        return zone_dept
    if grant.department_id is not None:
        return grant.department_id
    return names.get(grant.person_id, ("", None))[1] if grant.person_id is not None else None


async def _department_names() -> dict[int, str]:
    return dict(await Department.all().values_list("id", "name"))


@source("grant_review_overdue", "entry", "Grants past their review date")
async def grant_review_overdue(rt: Runtime, period: Period) -> list[Proposal]:
    """A grant still live at the period's end (not revoked, not expired) whose review date had
    passed by then (or by now, for a period still running). Marking it reviewed moves the date,
    so the key names the date missed: a later miss of the same grant is a new fact."""
    at = common.judged_at(period)
    grants = (
        await Grant.filter(revoked_at=None, review_due_at__lt=at)
        .filter(Q(valid_until=None) | Q(valid_until__gt=at))
        .order_by("id")
    )
    topo = await rt.topology.get()
    names = await common.people(g.person_id for g in grants)
    departments = await _department_names() if grants else {}
    out = []
    for g in grants:
        assert g.review_due_at is not None
        zone = topo.zones.get(g.zone_id)
        out.append(
            Proposal(
                source="grant_review_overdue",
                area="entry",
                key=f"grant_review_overdue:{g.id}:{g.review_due_at.isoformat()}",
                summary=(
                    f"access of {_holder(g, names, departments)} to {zone.name if zone else f'zone #{g.zone_id}'}"
                    f" was due for review on {common.local_day(rt, g.review_due_at)}"
                ),
                department_id=_answerer(zone.department_id if zone else None, g, names),
                subject_type="grant",
                subject_id=str(g.id),
                evidence={
                    "grantId": g.id,
                    "zoneId": g.zone_id,
                    "reviewDueAt": g.review_due_at.isoformat(),
                    "reviewedAt": common.iso(g.reviewed_at),
                    "daysOverdue": (at - g.review_due_at).days,
                },
            )
        )
    return out


@source("unused_grants", "entry", "Grants nobody used")
async def unused_grants(rt: Runtime, period: Period) -> list[Proposal]:
    """A grant live over the whole period (made and valid from before it, not revoked nor
    expired before its end) through which none of the employees it covers passed IN (granted) into its zone or a
    sub-zone during the period. The rule of accessReview's unused grants
    (resolvers/access/reviews.py), over the inspected period instead of the last N days.

    Three queries however many grants: the grants, the employees, and the distinct (person,
    zone) pairs that entered in the period; the matching is done here through indexes by
    person, department and position, not grant by employee."""
    at = common.judged_at(period)
    live = (
        await Grant.filter(created_at__lt=period.start)
        .filter(Q(revoked_at=None) | Q(revoked_at__gte=at))
        .filter(Q(valid_until=None) | Q(valid_until__gte=at))
        .filter(Q(valid_from=None) | Q(valid_from__lte=period.start))
        .order_by("id")
    )
    if not live:
        return []
    employees = await Person.filter(kind=PersonKind.EMPLOYEE).values_list("id", "department_id", "position")
    by_department: dict[int, list[int]] = defaultdict(list)
    by_position: dict[str, list[int]] = defaultdict(list)
    for pid, dept, position in employees:
        if dept is not None:
            by_department[dept].append(pid)
        by_position[position.lower()].append(pid)
    entered: dict[int, set[int]] = defaultdict(set)
    pairs = (
        GateEvent.filter(
            decision=Decision.GRANTED,
            direction=Direction.IN,
            at__gte=period.start,
            at__lt=period.end,
            person_id__not_isnull=True,
        )
        .distinct()
        .values_list("person_id", "zone_id")
    )
    for person_id, zone_id in await pairs:
        entered[person_id].add(zone_id)
    topo = await rt.topology.get()
    names = await common.people(g.person_id for g in live)
    departments = await _department_names()
    out = []
    for g in live:
        if g.person_id is not None:
            covered = [g.person_id]
        elif g.department_id is not None:
            covered = by_department.get(g.department_id, [])
        else:
            covered = by_position.get((g.position or "").lower(), [])
        zones = topo.subtree(g.zone_id)
        if any(entered[p] & zones for p in covered):
            continue
        zone = topo.zones.get(g.zone_id)
        out.append(
            Proposal(
                source="unused_grants",
                area="entry",
                key=f"unused_grants:{g.id}:{period.start.isoformat()}:{period.end.isoformat()}",
                summary=(
                    f"access of {_holder(g, names, departments)} to {zone.name if zone else f'zone #{g.zone_id}'}"
                    f" was not used from {common.local_day(rt, period.start)} to {common.local_days(rt, period)[1]}"
                ),
                department_id=_answerer(zone.department_id if zone else None, g, names),
                subject_type="grant",
                subject_id=str(g.id),
                evidence={"grantId": g.id, "zoneId": g.zone_id, "peopleCovered": len(covered), "entries": 0},
            )
        )
    return out
