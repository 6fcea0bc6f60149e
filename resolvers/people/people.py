"""Departments, onboarding and offboarding (POLICY 3.1.1, 3.1.4)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from realtime.messages import CredentialsRevoked
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.crypto import mask
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import (
    Credential,
    CredentialStatus,
    Department,
    Gender,
    Grant,
    IdentityDocument,
    Person,
    PersonKind,
    PersonStatus,
    PushSubscription,
    RefreshSession,
    Role,
)
from resolvers.core.passwords import generate_password, hash_password
from resolvers.faces import templates as face_templates
from resolvers.people import audit, ratelimit
from resolvers.runtime import Runtime

# Roles only an ADMIN may hand out or take away (contracts/README.md): GUARD too, since a
# guard may open any door remotely and evacuate the site.
# SUPERVISOR reads as AUDITOR does (gate events, people, backups): given by ADMIN alone too.
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.GUARD, Role.SUPERVISOR})
PRIVILEGED_NAMES = "ADMIN, SECURITY_ADMIN, AUDITOR, SUPERVISOR or GUARD"

ID_NUMBER = "person.id_number"
PHONE = "person.phone"


async def all_departments() -> list[Department]:
    """The organisation chart, by name (a site has tens of departments: not paged)."""
    return await Department.all().order_by("name")


async def people_page(
    first: int, after_id: int | None, *, scope: set[int] | None = None, department_id: int | None = None
) -> list[Person]:
    """Employees by id, up to first + 1 after `after_id`; a scope limits them to those departments."""
    query = Person.filter(kind=PersonKind.EMPLOYEE)
    if scope is not None:
        query = query.filter(department_id__in=scope)
    if department_id is not None:
        query = query.filter(department_id=department_id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


async def create_department(name: str, parent_id: str | None, head_id: str | None) -> Department:
    clean = validation.name(name, "name")
    parent = None
    if parent_id is not None:
        parent = await Department.get_or_none(id=parse_id(parent_id, "department", "parentId"))
        if parent is None:
            raise not_found("department", "parentId")
    # The same rule as setDepartmentHead: an active employee, who gets the role DEPARTMENT_HEAD.
    head = await _active_employee(head_id, "headId") if head_id is not None else None
    if await Department.filter(name=clean).exists():
        raise UserError(ErrorCode.CONFLICT, f"a department named {clean!r} exists", "name")
    async with in_transaction():
        dept = await Department.create(name=clean, parent=parent, head_id=head.id if head else None)
        if head is not None:
            await _set_roles(head.id, {Role.DEPARTMENT_HEAD}, set())
    return dept


async def _department(department_id: str) -> Department:
    dept = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
    if dept is None:
        raise not_found("department", "departmentId")
    return dept


async def _active_employee(person_id: str, field: str) -> Person:
    person = await Person.get_or_none(id=parse_id(person_id, "person", field), kind=PersonKind.EMPLOYEE)
    if person is None:
        raise not_found("person", field)
    if person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, f"{person.display_name} is offboarded", field)
    return person


async def _set_roles(person_id: int, add: set[Role], drop: set[Role]) -> None:
    person = await Person.get(id=person_id)
    held = set(person.roles)
    wanted = (held | {r.value for r in add}) - {r.value for r in drop}
    if wanted != held:
        await Person.filter(id=person_id).update(roles=sorted(wanted))
        audit.note_change("person", person_id, {"roles": sorted(held)}, {"roles": sorted(wanted)})


async def set_department_head(department_id: str, head_id: str | None) -> Department:
    """Name (or, with None, clear) a department's head: an active employee, who may be one of its
    members. The new head gets the role DEPARTMENT_HEAD; the old one loses it when they head no
    other department. Steps waiting for "the head" follow at once (approvers are resolved when
    read). Naming the deputy as head clears the deputy."""
    dept = await _department(department_id)
    head = await _active_employee(head_id, "headId") if head_id is not None else None
    new_id = head.id if head else None
    if dept.head_id == new_id:
        return dept
    before = {"headId": dept.head_id, "deputyId": dept.deputy_id}
    old_id = dept.head_id
    async with in_transaction():
        dept.head_id = new_id
        if new_id is not None and dept.deputy_id == new_id:
            dept.deputy_id = None
        await dept.save(update_fields=["head_id", "deputy_id"])
        audit.note_change("department", dept.id, before, {"headId": dept.head_id, "deputyId": dept.deputy_id})
        if new_id is not None:
            await _set_roles(new_id, {Role.DEPARTMENT_HEAD}, set())
        if old_id is not None and not await Department.filter(head_id=old_id).exists():
            await _set_roles(old_id, set(), {Role.DEPARTMENT_HEAD})
    return dept


async def set_department_deputy(department_id: str, deputy_id: str | None) -> Department:
    """Name (or clear) who decides approvals in the head's place: an active employee, not the head.
    A deputy gets no role: they decide the department's approval steps, nothing else."""
    dept = await _department(department_id)
    deputy = await _active_employee(deputy_id, "deputyId") if deputy_id is not None else None
    new_id = deputy.id if deputy else None
    if new_id is not None and new_id == dept.head_id:
        raise UserError(ErrorCode.INVALID, "the head is not their own deputy", "deputyId")
    if dept.deputy_id == new_id:
        return dept
    before = {"deputyId": dept.deputy_id}
    dept.deputy_id = new_id
    await dept.save(update_fields=["deputy_id"])
    audit.note_change("department", dept.id, before, {"deputyId": new_id})
    return dept


@dataclass(frozen=True)
class OnboardInput:
    display_name: str
    gender: Gender | None
    id_number: str
    phone: str
    department_id: str
    position: str
    username: str
    roles: list[Role] | None
    document_type: IdentityDocument = IdentityDocument.ID_CARD


def _check_role_grant(actor: Actor, roles: set[Role]) -> None:
    if roles & PRIVILEGED_ROLES and Role.ADMIN not in actor.roles:
        raise Forbidden(f"only an ADMIN may give the roles {PRIVILEGED_NAMES}")


async def onboard_employee(rt: Runtime, actor: Actor, data: OnboardInput) -> tuple[Person, str]:
    roles = set(data.roles) if data.roles else {Role.EMPLOYEE}
    roles.add(Role.EMPLOYEE)
    _check_role_grant(actor, roles)
    display_name = validation.name(data.display_name, "displayName")
    username = validation.username(data.username)
    position = validation.name(data.position, "position")
    id_number = validation.identity_number(data.id_number, data.document_type)
    phone = validation.phone(data.phone)
    department = await Department.get_or_none(id=parse_id(data.department_id, "department", "departmentId"))
    if department is None:
        raise not_found("department", "departmentId")
    if await Person.filter(username=username).exists():
        raise UserError(ErrorCode.CONFLICT, "this username is taken", "username")
    id_hash = rt.sealer.lookup_hash(id_number, ID_NUMBER)
    # Every hash the number may carry (during a key rotation, the previous key's too).
    id_hashes = rt.sealer.lookup_hashes(id_number, ID_NUMBER)
    if await Person.filter(id_number_hash__in=id_hashes, kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE).exists():
        raise UserError(ErrorCode.CONFLICT, "an active employee already has this ID number", "idNumber")
    password = generate_password()
    person = await Person.create(
        kind=PersonKind.EMPLOYEE,
        username=username,
        password_hash=hash_password(password),
        password_issued_at=clock.now(),  # HR knows it: the person must change it within 7 days
        display_name=display_name,
        gender=data.gender,
        document_type=data.document_type,
        id_number_enc=rt.sealer.seal(id_number, ID_NUMBER),
        id_number_hash=id_hash,
        id_number_masked=mask(id_number),
        phone_enc=rt.sealer.seal(phone, PHONE),
        phone_hash=rt.sealer.lookup_hash(phone, PHONE),
        phone_masked=mask(phone, head=3, tail=2),
        department=department,
        position=position,
        roles=sorted(r.value for r in roles),
    )
    return person, password


async def offboard_employee(rt: Runtime, actor: Actor, person_id: str) -> Person:
    """Revoke every credential, grant and session of the person at once. Idempotent."""
    person = await Person.get_or_none(id=parse_id(person_id, "person", "id"), kind=PersonKind.EMPLOYEE)
    if person is None:
        raise not_found("person", "id")
    held = {Role(r) for r in person.roles}
    if held & PRIVILEGED_ROLES and Role.ADMIN not in actor.roles:
        raise Forbidden(f"only an ADMIN may offboard someone who holds {PRIVILEGED_NAMES}")
    if person.id == actor.person_id:
        raise UserError(ErrorCode.NOT_ALLOWED, "you cannot offboard yourself", "id")
    if person.status is PersonStatus.OFFBOARDED:
        return person
    now = clock.now()
    revoked = await Credential.filter(person_id=person.id, status=CredentialStatus.ACTIVE).values_list("cid", flat=True)
    async with in_transaction():
        person.status = PersonStatus.OFFBOARDED
        person.offboarded_at = now
        await person.save(update_fields=["status", "offboarded_at"])
        await Credential.filter(person_id=person.id, status=CredentialStatus.ACTIVE).update(
            status=CredentialStatus.REVOKED, ended_at=now
        )
        await Grant.filter(person_id=person.id, revoked_at=None).update(revoked_at=now)
        await RefreshSession.filter(person_id=person.id, revoked_at=None).update(revoked_at=now)
        await PushSubscription.filter(person_id=person.id).delete()  # no notifications after leaving
    audit.note_change("person", person.id, {"status": "ACTIVE"}, {"status": "OFFBOARDED"})
    await face_templates.delete_for_person(rt, person.id)
    # Gates that decide offline hold these credentials: tell every connected device at once.
    rt.access_changed()
    rt.bus.send(CredentialsRevoked(credential_ids=tuple(str(c) for c in revoked), person_id=person.id))
    return person


async def unlock_account(person_id: str) -> Person:
    """Forget the account's failed sign-ins, so its delay ends now."""
    person = await get_person(person_id)
    if person.username is not None:
        delayed = await ratelimit.unlock(person.username)
        audit.note_change("person", person.id, {"signInFailures": delayed}, {"signInFailures": False})
    return person


@dataclass(frozen=True)
class PersonalData:
    id_number: str | None
    phone: str | None
    document_type: IdentityDocument


async def read_personal_data(rt: Runtime, actor: Actor, person_id: str, address: str) -> PersonalData:
    """Unmasked ID and phone numbers; every read is written to the audit log first."""
    person = await get_person(person_id)
    await audit.record(actor, "readPersonalData", address=address, target_type="person", target_id=person.id)
    return PersonalData(
        id_number=rt.sealer.open_text(person.id_number_enc, ID_NUMBER) if person.id_number_enc else None,
        phone=rt.sealer.open_text(person.phone_enc, PHONE) if person.phone_enc else None,
        document_type=person.document_type,
    )


async def find_by_id_number(rt: Runtime, id_number: str, document: IdentityDocument) -> list[Person]:
    """A guard with an ID card in hand finds the person by the keyed hash of its number."""
    clean = validation.identity_number(id_number, document)
    hashes = rt.sealer.lookup_hashes(clean, ID_NUMBER)  # a key rotation may be re-keying the rows
    return await Person.filter(id_number_hash__in=hashes).order_by("-id")


async def get_person(person_id: str) -> Person:
    person = await Person.get_or_none(id=parse_id(person_id, "person", "id"))
    if person is None:
        raise not_found("person", "id")
    return person
