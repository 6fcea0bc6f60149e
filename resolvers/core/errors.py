"""Errors the domain raises; the GraphQL layer maps them, the device channel and CLI print them."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeGuard


class ErrorCode(StrEnum):
    """The one vocabulary of failure codes: `UserError.code` in a payload and `extensions.code`
    on a GraphQL error carry these same upper-snake strings (contracts/README.md), so a client
    reads one list. The values are the wire strings: never rename one."""

    # Payload errors (UserError): the caller can fix the input and try again.
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    EXPIRED = "EXPIRED"
    MISMATCH = "MISMATCH"
    NOT_ALLOWED = "NOT_ALLOWED"
    UNAVAILABLE = "UNAVAILABLE"
    # The password was right and the account has a second factor: send `totpCode` too.
    SECOND_FACTOR_REQUIRED = "SECOND_FACTOR_REQUIRED"
    # A dangerous operation needs a fresh confirmation of who is calling (confirmIdentity).
    CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"
    # GraphQL errors (extensions.code): the request as a whole is refused.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class UserError(Exception):
    """Something the caller can fix: validation, not found, conflict. Nothing was written."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a code outside the vocabulary fails here, not on the wire
        self.message = message
        self.field = field


class Forbidden(Exception):
    """The caller is signed in but may not do this (or see this row)."""

    def __init__(self, message: str = "you may not do this") -> None:
        super().__init__(message)
        self.message = message


class RateLimited(Exception):
    """Too many failed attempts: the caller must wait `retry_after` seconds (when known)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def not_found(what: str, field: str | None = None) -> UserError:
    return UserError(ErrorCode.NOT_FOUND, f"no such {what}", field)


def is_id(text: object) -> TypeGuard[str]:
    """ASCII digits only: str.isdigit() also accepts '²' and other digits int() refuses."""
    return isinstance(text, str) and 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def parse_id(value: str | int | None, what: str, field: str | None = None) -> int:
    """IDs are opaque strings to clients; a malformed one is simply not found."""
    if isinstance(value, int):
        return value
    if not is_id(value):
        raise not_found(what, field)
    return int(value)
