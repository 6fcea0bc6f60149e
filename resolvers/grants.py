"""Grants: a person or a department may enter a zone (and so its sub-zones and the way in)."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from api import clock
from api.models import Department, Grant, Person, PersonKind, PersonStatus
from resolvers import validation
from resolvers.actor import Actor
from resolvers.errors import UserError, not_found, parse_id
from resolvers.sites import find_zone


async def grant_access(
    actor: Actor,
    zone_id: str,
    person_id: str | None,
    department_id: str | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> Grant:
    if (person_id is None) == (department_id is None):
        raise UserError("INVALID", "give exactly one of personId and departmentId", "personId")
    validation.window(valid_from, valid_until)
    if valid_until is not None and valid_until <= clock.now():
        raise UserError("INVALID", "the grant would already have ended", "validUntil")
    zone = await find_zone(zone_id, "zoneId")
    person = department = None
    if person_id is not None:
        person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"))
        if person is None:
            raise not_found("person", "personId")
        if person.status is not PersonStatus.ACTIVE or person.kind is not PersonKind.EMPLOYEE:
            raise UserError("NOT_ALLOWED", "only active employees get grants", "personId")
    else:
        department = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
        if department is None:
            raise not_found("department", "departmentId")
    return await Grant.create(
        zone=zone,
        person=person,
        department=department,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by_id=actor.person_id,
    )


async def revoke_grant(grant_id: str) -> Grant:
    grant = await Grant.get_or_none(id=parse_id(grant_id, "grant", "id"))
    if grant is None:
        raise not_found("grant", "id")
    if grant.revoked_at is None:
        grant.revoked_at = clock.now()
        await grant.save(update_fields=["revoked_at"])
    return grant


async def has_grant(person_id: int, department_id: int | None, zones: set[int], at: datetime) -> bool:
    """One indexed query: an active grant of the person or their department on any of `zones`."""
    who = Q(person_id=person_id)
    if department_id is not None:
        who |= Q(department_id=department_id)
    return (
        await Grant.filter(who, zone_id__in=zones, revoked_at=None)
        .filter(Q(valid_from=None) | Q(valid_from__lte=at))
        .filter(Q(valid_until=None) | Q(valid_until__gt=at))
        .exists()
    )


async def active_grants(person_id: int, department_id: int | None) -> list[Grant]:
    now = clock.now()
    who = Q(person_id=person_id)
    if department_id is not None:
        who |= Q(department_id=department_id)
    return await Grant.filter(who, revoked_at=None).filter(Q(valid_until=None) | Q(valid_until__gt=now)).order_by("id")
