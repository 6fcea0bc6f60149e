"""How failures reach a client: codes on every GraphQL error, internals never shown."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.core.errors import is_id

log = logging.getLogger("gatehouse.graphql")

EXPECTED_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "RATE_LIMITED", "GRAPHQL_VALIDATION_FAILED", "NOT_FOUND"}
)


def unauthenticated(message: str = "sign in first") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str = "your role may not do this") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


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
                    "code": "BAD_USER_INPUT" if bad_value else "GRAPHQL_VALIDATION_FAILED",
                }
                out.append(error)
            else:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
                masked = self.anonymise_error(error)
                masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
                out.append(masked)
        return out


def optional_id(value: strawberry.ID | None, what: str) -> int | None:
    if value is None:
        return None
    if not is_id(value) or len(value) > 18:
        raise bad_input(f"no such {what}")
    return int(value)
