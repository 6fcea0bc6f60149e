"""Root query fields: people."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.access import grants
from resolvers.core.errors import is_id
from resolvers.core.models import IdentityDocument, Role
from resolvers.people import audit, people, second_factor
from schema.core.context import Info, actor_of
from schema.core.errors import forbidden, optional_id
from schema.core.pagination import Connection, check_first, decode_cursor, empty_page, page_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsAuditReader,
    IsAuthenticated,
    IsFrontDesk,
    IsOperator,
    IsPeopleAdmin,
    IsStaff,
)
from schema.people.types import AccountSecurity, AuditEntry, Department, Person, PersonalData


@strawberry.type
class PeopleQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in person.")
    async def me(self, info: Info) -> Person:
        actor = info.context.actor
        assert actor is not None
        return Person.of(await people.get_person(str(actor.person_id)))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The signed-in person's second factor, and whether this session must pass one or confirm "
        "who holds it before dangerous operations.",
    )
    async def my_security(self, info: Info) -> AccountSecurity:
        status = await second_factor.status(info.context.rt, actor_of(info))
        return AccountSecurity(
            totp_enabled=status.totp_enabled_at is not None,
            totp_enabled_at=status.totp_enabled_at,
            recovery_codes_left=status.recovery_codes_left,
            second_factor_required=bool(status.withheld_roles),
            withheld_roles=[Role(r) for r in sorted(status.withheld_roles)],
            confirmed_until=status.confirmed_until,
        )

    @strawberry.field(permission_classes=[IsStaff], description="A person by id; null for no such person.")
    async def person(self, info: Info, id: strawberry.ID) -> Person | None:
        row, _ = await attempt(people.get_person(id))
        if row is None:
            return None
        scope = await grants.people_scope(actor_of(info))
        if scope is not None and row.department_id not in scope:
            raise forbidden("you may see your own department's people only")
        return Person.of(row)

    @strawberry.field(
        permission_classes=[IsStaff], description="Employees by id, of one department if given; offboarded ones too."
    )
    async def people(
        self, info: Info, first: int = 50, after: str | None = None, department_id: strawberry.ID | None = None
    ) -> Connection[Person]:
        first = check_first(first)
        rows = await people.people_page(
            first,
            decode_cursor("person", after),
            scope=await grants.people_scope(actor_of(info)),
            department_id=optional_id(department_id, "department"),
        )
        return page_of(rows, first, "person", Person.of, after=after)

    # A plain list: an organisation chart has tens of departments, not thousands.
    @strawberry.field(permission_classes=[IsOperator], description="Every department, by name.")
    async def departments(self) -> list[Department]:
        return [Department.of(r) for r in await people.all_departments()]

    @strawberry.field(permission_classes=[IsAuditReader], description="The audit log, newest first.")
    async def audit_log(
        self,
        first: int = 50,
        after: str | None = None,
        actor_id: strawberry.ID | None = None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[AuditEntry]:
        first = check_first(first)
        actor = int(actor_id) if actor_id is not None and is_id(actor_id) else None
        if actor_id is not None and actor is None:
            return empty_page()
        rows = await audit.page(
            first,
            decode_cursor("audit", after),
            actor_id=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        )
        return page_of(rows, first, "audit", AuditEntry.of, after=after)

    @strawberry.field(
        permission_classes=[IsPeopleAdmin], description="Unmasked ID and phone numbers. Every read is audited."
    )
    async def personal_data(self, info: Info, person_id: strawberry.ID) -> PersonalData | None:
        data, _ = await attempt(
            people.read_personal_data(info.context.rt, actor_of(info), person_id, info.context.address)
        )
        if data is None:
            return None
        return PersonalData(id_number=data.id_number, phone=data.phone, document_type=data.document_type)

    # A plain list: one document number belongs to a handful of people at most.
    @strawberry.field(permission_classes=[IsFrontDesk], description="Find people by the ID document in hand.")
    async def people_by_id_number(
        self, info: Info, id_number: str, document_type: IdentityDocument = IdentityDocument.ID_CARD
    ) -> list[Person]:
        rows, _ = await attempt(people.find_by_id_number(info.context.rt, id_number, document_type))
        return [Person.of(r) for r in rows or []]
