"""How failures reach a client: codes on every GraphQL error, internals never shown."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.core.errors import ErrorCode, is_id

log = logging.getLogger("gatehouse.graphql")

# Refusals that are answers, not faults: not logged as errors.
EXPECTED_CODES = frozenset(
    {
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.FORBIDDEN,
        ErrorCode.BAD_USER_INPUT,
        ErrorCode.RATE_LIMITED,
        ErrorCode.GRAPHQL_VALIDATION_FAILED,
        ErrorCode.NOT_FOUND,
    }
)


def coded(code: ErrorCode, message: str) -> GraphQLError:
    """A GraphQL error whose `extensions.code` is a code of the one vocabulary."""
    return GraphQLError(message, extensions={"code": code.value})


def unauthenticated(message: str = "sign in first") -> GraphQLError:
    return coded(ErrorCode.UNAUTHENTICATED, message)


def forbidden(message: str = "your role may not do this") -> GraphQLError:
    return coded(ErrorCode.FORBIDDEN, message)


def bad_input(message: str) -> GraphQLError:
    return coded(ErrorCode.BAD_USER_INPUT, message)


def rate_limited(message: str, retry_after: int | None = None) -> GraphQLError:
    """`extensions.retryAfter`: the seconds to wait before trying again, when known."""
    error = coded(ErrorCode.RATE_LIMITED, message)
    if retry_after is not None:
        error.extensions = {**(error.extensions or {}), "retryAfter": retry_after}
    return error


def _code(error: GraphQLError) -> str | None:
    ext: dict[str, Any] = error.extensions or {}
    code = ext.get("code")
    if code:
        return str(code)
    original = error.original_error
    if isinstance(original, GraphQLError) and original.extensions and original.extensions.get("code"):
        return str(original.extensions["code"])
    return None


# graphql-core's wording when a variable's value (not the document) is at fault.
_BAD_VARIABLE = ("invalid value", "was not provided", "must not be null")


class ErrorCodes(MaskErrors):
    """Give every error an `extensions.code`; hide the text of unexpected ones."""

    def __init__(self) -> None:
        super().__init__()

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out: list[GraphQLError] = []
        for error in errors:
            code = _code(error)
            if code is not None:
                error.extensions = {**(error.extensions or {}), "code": code}
                out.append(error)
            elif error.path is None or error.original_error is None:
                # Raised by graphql-core while parsing, validating or coercing variables and
                # literals: the request is at fault, never the server.
                bad_value = (
                    error.message.startswith("Variable '$") and any(m in error.message for m in _BAD_VARIABLE)
                ) or "Expected value of type" in error.message
                error.extensions = {
                    **(error.extensions or {}),
                    "code": (ErrorCode.BAD_USER_INPUT if bad_value else ErrorCode.GRAPHQL_VALIDATION_FAILED).value,
                }
                out.append(error)
            else:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
                masked = self.anonymise_error(error)
                masked.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
                out.append(masked)
        return out


def optional_id(value: strawberry.ID | None, what: str) -> int | None:
    if value is None:
        return None
    if not is_id(value) or len(value) > 18:
        raise bad_input(f"no such {what}")
    return int(value)
