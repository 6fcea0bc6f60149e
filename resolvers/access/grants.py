"""Grants: a person, a department or a position may enter a zone (with its sub-zones and
the way in), optionally within a validity window and on a weekly schedule (POLICY 3.1.2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q, Subquery

from resolvers.access import schedules
from resolvers.access.sites import find_zone
from resolvers.access.topology import Topology
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import Department, Grant, Person, PersonKind, PersonStatus, Role
from resolvers.people import audit
from resolvers.runtime import Runtime

REVIEW_EVERY = timedelta(days=90)
GRANT_ANYWHERE = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


async def people_scope(actor: Actor) -> set[int] | None:
    """Departments whose people the caller may list; None means everyone.

    Department heads see their own department's people only; operators, gate staff
    and auditors see all (masked).
    """
    # The supervision team reads as the auditors do (schema/core/permissions.py IsStaff).
    if actor.has_any(Role.ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.GUARD, Role.AUDITOR, Role.SUPERVISOR):
        return None
    return await headed_departments(actor)


def in_scope(scope: set[int] | None) -> Q:
    """Grants a caller with this people scope may see: of the scope's departments and their
    people (a grant by position spans departments, so only an unscoped caller sees it)."""
    if scope is None:
        return Q()
    people = Subquery(Person.filter(department_id__in=scope).values("id"))
    return Q(department_id__in=scope) | Q(person_id__in=people)


async def headed_departments(actor: Actor) -> set[int]:
    rows = await Department.filter(head_id=actor.person_id).values("id")
    return {row["id"] for row in rows}


async def _check_head_scope(
    actor: Actor,
    topo: Topology,
    zone_id: int,
    person: Person | None,
    department_id: int | None,
    position: str | None,
) -> None:
    """A department head grants only their own department's people, on their department's zones."""
    if actor.has_any(*GRANT_ANYWHERE):
        return
    if Role.DEPARTMENT_HEAD not in actor.roles:
        raise Forbidden("only security, an admin or a department head may change grants")
    headed = await headed_departments(actor)
    if position is not None:
        raise Forbidden("a grant by position spans departments: security gives it")
    target_dept = person.department_id if person is not None else department_id
    if target_dept not in headed:
        raise Forbidden("you may change grants of your own department only")
    if topo.owner_department(zone_id) not in headed:
        raise UserError(ErrorCode.NOT_ALLOWED, "this zone is not one of your department's areas", "zoneId")


async def grant_access(
    rt: Runtime,
    actor: Actor,
    zone_id: str,
    person_id: str | None,
    department_id: str | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    position: str | None = None,
    schedule: list[dict[str, Any]] | None = None,
    request_id: int | None = None,
) -> Grant:
    if sum(x is not None for x in (person_id, department_id, position)) != 1:
        raise UserError(ErrorCode.INVALID, "give exactly one of personId, departmentId and position", "personId")
    validation.window(valid_from, valid_until)
    if valid_until is not None and valid_until <= clock.now():
        raise UserError(ErrorCode.INVALID, "the grant would already have ended", "validUntil")
    windows = schedules.validate(schedule or [])
    zone = await find_zone(zone_id, "zoneId")
    person = None
    dept_id = None
    clean_position = None
    if person_id is not None:
        person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"))
        if person is None:
            raise not_found("person", "personId")
        if person.status is not PersonStatus.ACTIVE or person.kind is not PersonKind.EMPLOYEE:
            raise UserError(ErrorCode.NOT_ALLOWED, "only active employees get grants", "personId")
    elif department_id is not None:
        department = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
        if department is None:
            raise not_found("department", "departmentId")
        dept_id = department.id
    else:
        clean_position = validation.name(position or "", "position")
    await _check_head_scope(actor, await rt.topology.get(), zone.id, person, dept_id, clean_position)
    grant = await Grant.create(
        zone=zone,
        person=person,
        department_id=dept_id,
        position=clean_position,
        valid_from=valid_from,
        valid_until=valid_until,
        schedule=windows,
        review_due_at=clock.now() + REVIEW_EVERY,
        created_by_id=actor.person_id if actor.person_id else None,
        request_id=request_id,
    )
    audit.note_change("grant", grant.id, None, describe(grant))
    await rt.grants_changed()
    return grant


def describe(grant: Grant) -> dict[str, Any]:
    return {
        "zone": grant.zone_id,
        "person": grant.person_id,
        "department": grant.department_id,
        "position": grant.position,
        "validFrom": grant.valid_from,
        "validUntil": grant.valid_until,
        "schedule": grant.schedule,
        "revokedAt": grant.revoked_at,
    }


async def _grant_in_scope(rt: Runtime, actor: Actor, grant_id: str) -> Grant:
    grant = await Grant.get_or_none(id=parse_id(grant_id, "grant", "id"))
    if grant is None:
        raise not_found("grant", "id")
    person = await Person.get_or_none(id=grant.person_id) if grant.person_id else None
    await _check_head_scope(actor, await rt.topology.get(), grant.zone_id, person, grant.department_id, grant.position)
    return grant


async def revoke_grant(rt: Runtime, actor: Actor, grant_id: str) -> Grant:
    grant = await _grant_in_scope(rt, actor, grant_id)
    if grant.revoked_at is None:
        before = describe(grant)
        grant.revoked_at = clock.now()
        await grant.save(update_fields=["revoked_at"])  # committed here (no transaction around it)
        audit.note_change("grant", grant.id, before, describe(grant))
        # Before the answer goes out: a scan anywhere after it must not be admitted by this grant.
        await rt.grants_changed()
    return grant


async def mark_reviewed(rt: Runtime, actor: Actor, grant_id: str) -> Grant:
    """An access review kept this grant: who and when, and the next review date."""
    grant = await _grant_in_scope(rt, actor, grant_id)
    if grant.revoked_at is not None:
        raise UserError(ErrorCode.NOT_ALLOWED, "this grant is revoked", "id")
    now = clock.now()
    grant.reviewed_at, grant.reviewed_by_id, grant.review_due_at = now, actor.person_id, now + REVIEW_EVERY
    await grant.save(update_fields=["reviewed_at", "reviewed_by_id", "review_due_at"])
    audit.note_change("grant", grant.id, None, {"reviewedAt": now, "reviewedBy": actor.person_id})
    return grant


def _who(person_id: int, department_id: int | None, position: str | None) -> Q:
    who = Q(person_id=person_id)
    if department_id is not None:
        who |= Q(department_id=department_id)
    if position:
        who |= Q(position__iexact=position)
    return who


async def has_grant(person_id: int, department_id: int | None, zones: set[int], at: datetime) -> bool:
    """Whether any live grant covers one of `zones` (at any hour): who may name a zone for a visitor."""
    return (
        await Grant.filter(_who(person_id, department_id, None), zone_id__in=zones, revoked_at=None)
        .filter(Q(valid_from=None) | Q(valid_from__lte=at))
        .filter(Q(valid_until=None) | Q(valid_until__gt=at))
        .exists()
    )


async def grants_of_person(person_id: int) -> list[Grant]:
    """The live grants that let this person in (their own, their department's); [] for nobody."""
    person = await Person.get_or_none(id=person_id)
    if person is None:
        return []
    return await active_grants(person.id, person.department_id)


async def active_grants(person_id: int, department_id: int | None, position: str | None = None) -> list[Grant]:
    now = clock.now()
    return (
        await Grant.filter(_who(person_id, department_id, position), revoked_at=None)
        .filter(Q(valid_until=None) | Q(valid_until__gt=now))
        .order_by("id")
    )
