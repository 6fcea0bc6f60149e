"""The first administrator of a site, created from the CLI (`gatehouse create-admin`)."""

from __future__ import annotations

from resolvers.core import validation
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Person, PersonKind, Role
from resolvers.core.passwords import hash_password

MIN_PASSWORD = 10


def checked_input(username: str, password: str, name: str) -> tuple[str, str]:
    """The clean username and display name; refuses before anything is opened or written."""
    clean = validation.username(username)
    display = validation.name(name, "name")
    if len(password) < MIN_PASSWORD:
        raise UserError(ErrorCode.INVALID, f"use at least {MIN_PASSWORD} characters", "password")
    return clean, display


async def create_admin(username: str, password: str, name: str) -> Person:
    clean, display = checked_input(username, password, name)
    if await Person.filter(username=clean).exists():
        raise UserError(ErrorCode.CONFLICT, f"username {clean!r} is taken", "username")
    return await Person.create(
        kind=PersonKind.EMPLOYEE,
        username=clean,
        password_hash=hash_password(password),
        display_name=display,
        position="Administrator",
        roles=[Role.ADMIN.value, Role.EMPLOYEE.value],
    )
