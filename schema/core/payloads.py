"""Mutation payloads: the object, or `errors` the user can act on (then the object is null)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry
from graphql.error import GraphQLError

from resolvers.core.errors import Forbidden, RateLimited
from resolvers.core.errors import UserError as DomainUserError
from resolvers.people import audit
from schema.core.errors import forbidden
from schema.core.types import (
    Credential,
    Department,
    Device,
    GateEvent,
    Grant,
    Person,
    Session,
    UserError,
    Zone,
)
from schema.core.types import Gate as GateType

T = TypeVar("T")


async def attempt(work: Awaitable[T]) -> tuple[T | None, list[UserError]]:
    """Run a domain call; a UserError becomes payload data, Forbidden a GraphQL error."""
    try:
        return await work, []
    except DomainUserError as exc:
        audit.note_outcome("refused:" + exc.code)
        return None, [UserError(code=exc.code, message=exc.message, field=exc.field)]
    except Forbidden as exc:
        raise forbidden(exc.message) from None
    except RateLimited as exc:
        raise GraphQLError(exc.message, extensions={"code": "RATE_LIMITED"}) from None


@strawberry.type
class LoginPayload:
    session: Session | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CredentialPayload:
    credential: Credential | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DepartmentPayload:
    department: Department | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ZonePayload:
    zone: Zone | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GatePayload:
    gate: GateType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RegisterDevicePayload:
    device: Device | None = None
    device_secret: str | None = strawberry.field(default=None, description="Shown once; stored only hashed.")
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
class GrantPayload:
    grant: Grant | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GateEventPayload:
    event: GateEvent | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
