"""How failures reach a client: codes on every GraphQL error, internals never shown."""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors
from tortoise.exceptions import ValidationError as OrmValidationError

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


# A log entry is bounded: an error's text may quote what the caller sent (a 16 MiB username
# once made a 50 MB entry), so only this much of it is kept, and never a variable's value.
MAX_LOGGED_TEXT = 300
_VARIABLE = re.compile(r"^(Variable '\$\w+') got invalid value.*$", re.S)
_QUOTED_VALUE = re.compile(r"\b(value|found|Length of)[: ].*$", re.S)


def loggable(text: str) -> str:
    """An error text fit for the log: values the caller sent cut out, bounded in length."""
    text = _VARIABLE.sub(r"\1 got an invalid value (not logged)", text)
    text = _QUOTED_VALUE.sub(r"\1 ... (not logged)", text)
    return text if len(text) <= MAX_LOGGED_TEXT else text[:MAX_LOGGED_TEXT] + f"... ({len(text)} characters)"


def _trace(exc: BaseException) -> str:
    """A traceback whose messages are bounded (frames stay: they say where, not what was sent)."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        lines.insert(0, f"{frames}{type(current).__qualname__}: {loggable(str(current))}\n")
        current = current.__cause__ or current.__context__
    return "\n".join(lines)


# Tortoise checks a filter or a value against its column's declared size before any SQL runs:
# "action: Length of '...' 300 > 100". The caller sent too long a string, never a server fault.
_TOO_LONG = re.compile(r"^(?:(\w+): )?Length of .* (\d+) > (\d+)$", re.S)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def caller_fault(error: GraphQLError) -> str | None:
    """The message for an input the site cannot store or represent, naming the field; None when
    the failure is not one of those."""
    field = str(error.path[-1]) if error.path else "the operation"
    original: BaseException | None = error.original_error
    seen: set[int] = set()
    while original is not None and id(original) not in seen:
        seen.add(id(original))
        if isinstance(original, OrmValidationError):
            match = _TOO_LONG.match(str(original))
            if match:
                name, _, longest = match.groups()
                what = f"`{_camel(name)}`" if name else "a text argument"
                return f"{field}: {what} is longer than {longest} characters"
        if isinstance(original, OverflowError):
            # Date arithmetic at the edge of the calendar (a day before 0001-01-01 or after 9999-12-31).
            return f"{field}: a date or time is outside what the site can represent"
        original = original.__cause__ or original.__context__
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
            elif (fault := caller_fault(error)) is not None:
                out.append(
                    GraphQLError(
                        fault,
                        nodes=error.nodes,
                        path=error.path,
                        extensions={"code": ErrorCode.BAD_USER_INPUT.value},
                    )
                )
            else:
                original = error.original_error
                log.error("unexpected error in %s\n%s", error.path, _trace(original) if original else "")
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
