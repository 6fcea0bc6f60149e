"""Access reviews (POLICY 3.1.2 "reviewed periodically"): who can enter a zone and why,
grants nobody used, grants past their review date."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q

from resolvers.access import grants
from resolvers.core import clock
from resolvers.core.models import Decision, GateEvent, Grant, Person, PersonKind, PersonStatus
from resolvers.runtime import Runtime


@dataclass(frozen=True)
class AccessLine:
    person: Person
    grant: Grant
    via: str  # PERSON, DEPARTMENT or POSITION


async def who_can_enter(rt: Runtime, zone_id: int, scope: set[int] | None = None) -> list[AccessLine]:
    """Every active employee who may enter the zone's gates, with the grant that lets them,
    ordered by grant then person; with a scope (a department head), their departments' people only."""
    topo = await rt.topology.get()
    now = clock.now()
    live = (
        await Grant.filter(zone_id__in=topo.zones_opening(zone_id), revoked_at=None)
        .filter(Q(valid_from=None) | Q(valid_from__lte=now))
        .filter(Q(valid_until=None) | Q(valid_until__gt=now))
        .order_by("id")
    )
    employees = Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE)
    if scope is not None:
        employees = employees.filter(department_id__in=scope)
    people = await employees.order_by("id")
    lines: list[AccessLine] = []
    for grant in live:
        for person in people:
            if grant.person_id == person.id:
                lines.append(AccessLine(person, grant, "PERSON"))
            elif grant.department_id is not None and grant.department_id == person.department_id:
                lines.append(AccessLine(person, grant, "DEPARTMENT"))
            elif grant.position and grant.position.lower() == person.position.lower():
                lines.append(AccessLine(person, grant, "POSITION"))
    return lines


async def unused(rt: Runtime, days: int, scope: set[int] | None = None) -> list[Grant]:
    """Live grants that opened nothing for anyone they cover in the last `days` days, by id;
    with a scope (a department head), those of their departments and their people only.

    Three queries however many grants: the live grants, the employees, and who entered which
    zone in the window; the matching is done here."""
    topo = await rt.topology.get()
    now = clock.now()
    since = now - timedelta(days=days)
    live = (
        await Grant.filter(grants.in_scope(scope), revoked_at=None, created_at__lt=since)
        .filter(Q(valid_until=None) | Q(valid_until__gt=now))
        .order_by("id")
    )
    if not live:
        return []
    employees = await Person.filter(kind=PersonKind.EMPLOYEE).values_list("id", "department_id", "position")
    entered: dict[int, set[int]] = defaultdict(set)
    passages = (
        GateEvent.filter(decision=Decision.GRANTED, direction="IN", at__gte=since, person_id__not_isnull=True)
        .distinct()
        .values_list("person_id", "zone_id")
    )
    for person_id, zone_id in await passages:
        entered[person_id].add(zone_id)

    def covers(grant: Grant, person_id: int, department_id: int | None, position: str) -> bool:
        if grant.person_id is not None:
            return grant.person_id == person_id
        if grant.department_id is not None:
            return grant.department_id == department_id
        return position.lower() == (grant.position or "").lower()

    out = []
    for grant in live:
        zones = topo.subtree(grant.zone_id)
        if not any(entered[p] & zones for p, dept, position in employees if covers(grant, p, dept, position)):
            out.append(grant)
    return out


async def due_for_review_page(scope: set[int] | None, first: int, after_id: int | None) -> list[Grant]:
    """Live grants past their review date that the caller may see, oldest grant first, up to
    first + 1 of them. Paged by grant id, not by due date: marking a grant reviewed moves its
    date, and a reviewer working through the list must not lose their place by doing so."""
    now = clock.now()
    query = Grant.filter(grants.in_scope(scope), revoked_at=None, review_due_at__lte=now).filter(
        Q(valid_until=None) | Q(valid_until__gt=now)
    )
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)
