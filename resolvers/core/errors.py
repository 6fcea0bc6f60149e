"""Errors the domain raises; the GraphQL layer maps them, the device channel and CLI print them."""

from __future__ import annotations

from typing import TypeGuard


class UserError(Exception):
    """Something the caller can fix: validation, not found, conflict. Nothing was written."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Forbidden(Exception):
    """The caller is signed in but may not do this (or see this row)."""

    def __init__(self, message: str = "you may not do this") -> None:
        super().__init__(message)
        self.message = message


class RateLimited(Exception):
    """Too many failed attempts: the caller must wait (or an admin must unlock the account)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(Exception):
    def __init__(self, message: str = "sign in first") -> None:
        super().__init__(message)
        self.message = message


def not_found(what: str, field: str | None = None) -> UserError:
    return UserError("NOT_FOUND", f"no such {what}", field)


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
