"""Mutation payloads: what the user can fix is data (`errors`), what they may not do is raised."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry

from resolvers.core.errors import ErrorCode, Forbidden, RateLimited
from resolvers.core.errors import UserError as DomainUserError
from resolvers.people import audit
from schema.core.errors import forbidden, rate_limited


@strawberry.type(description="Something the caller can fix (validation, not found, conflict); nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="What went wrong, from the same vocabulary as `extensions.code`.")
    message: str = strawberry.field(description="For people: what to change.")
    field: str | None = strawberry.field(
        default=None, description='The camelCase input field at fault ("idNumber"); null when no one field is.'
    )


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
        raise rate_limited(exc.message, exc.retry_after) from None
