"""Shared GraphQL conventions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    pass
from collections.abc import Awaitable
from typing import TypeVar

from graphql.error import GraphQLError

from resolvers.core.errors import Forbidden, RateLimited
from resolvers.core.errors import UserError as DomainUserError
from resolvers.people import audit
from schema.core.errors import forbidden


@strawberry.type
class UserError:
    code: str
    message: str
    field: str | None = None


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
