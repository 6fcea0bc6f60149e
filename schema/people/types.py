"""GraphQL object types and mutation payloads: people."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from resolvers.core import models
from resolvers.core import models as m
from resolvers.core.models import IdentityDocument
from resolvers.passes import credentials as credential_domain
from resolvers.scan import event_queries
from resolvers.visits import visits as visit_domain
from schema.core.context import Info
from schema.core.enums import (
    Gender,
    PersonKind,
    PersonStatus,
    Role,
)
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import UserError
from schema.core.permissions import OwnerOrOversight
from schema.passes.types import Pass

if TYPE_CHECKING:
    from schema.scan.types import GateEvent
    from schema.visits.types import Visit


@strawberry.type
class Department:
    id: strawberry.ID
    name: str
    parent_id_: strawberry.Private[int | None]
    head_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Department) -> Department:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, parent_id_=row.parent_id, head_id_=row.head_id)

    @strawberry.field
    async def parent(self, info: Info) -> Department | None:
        if self.parent_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.parent_id_)
        return Department.of(row) if row else None

    @strawberry.field
    async def head(self, info: Info) -> Person | None:
        if self.head_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.head_id_)
        return Person.of(row) if row else None


@strawberry.type
class Person:
    id: strawberry.ID
    display_name: str
    username: str | None
    kind: PersonKind
    status: PersonStatus
    roles: list[Role]
    position: str
    gender: Gender | None
    id_number_masked: str | None
    phone_masked: str | None
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Person) -> Person:
        return cls(
            id=strawberry.ID(str(row.id)),
            display_name=row.display_name,
            username=row.username,
            kind=row.kind,
            status=row.status,
            roles=[models.Role(r) for r in row.roles],
            position=row.position,
            gender=row.gender,
            id_number_masked=row.id_number_masked,
            phone_masked=row.phone_masked,
            department_id_=row.department_id,
        )

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None

    @strawberry.field(name="pass", permission_classes=[OwnerOrOversight])
    async def pass_(self) -> Pass | None:
        row = await credential_domain.active_credential(int(self.id))
        return Pass.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="A visitor's visit (null for employees).")
    async def visit(self) -> Annotated[Visit, strawberry.lazy("schema.visits.types")] | None:
        from schema.visits.types import Visit

        if self.kind is not models.PersonKind.VISITOR:
            return None
        row = await visit_domain.visit_of_visitor(int(self.id))
        return Visit.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Visits this person hosts, newest first.")
    async def hosted_visits(
        self, first: int, after: str | None = None
    ) -> Connection[Annotated[Visit, strawberry.lazy("schema.visits.types")]]:
        from schema.visits.types import Visit

        first = check_first(first)
        rows = await visit_domain.hosted_page(int(self.id), first, decode_cursor("visit", after))
        return page_of(rows, first, "visit", Visit.of)

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Passages of this person, newest first.")
    async def access_log(
        self, first: int, after: str | None = None
    ) -> Connection[Annotated[GateEvent, strawberry.lazy("schema.scan.types")]]:
        from schema.scan.types import event_connection  # the event type names people: import it late

        first = check_first(first)
        rows = await event_queries.events_page(first, decode_cursor("ev", after), person_id=int(self.id))
        return event_connection(rows, first)


@strawberry.type
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime


@strawberry.type
class LoginPayload:
    session: Session | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DepartmentPayload:
    department: Department | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OnboardEmployeePayload:
    employee: Person | None = None
    initial_password: str | None = strawberry.field(default=None, description="Shown once.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EmployeePayload:
    employee: Person | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor_id: strawberry.ID | None
    actor_name: str
    address: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    detail: JSON

    @classmethod
    def of(cls, row: m.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor_id=strawberry.ID(str(row.actor_id)) if row.actor_id is not None else None,
            actor_name=row.actor_name,
            address=row.address,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            outcome=row.outcome,
            detail=cast(JSON, row.detail),
        )


@strawberry.type
class PersonalData:
    id_number: str | None
    phone: str | None
    document_type: IdentityDocument


@strawberry.type
class PersonPayload:
    person: Person | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
