"""Who holds a role now: the active employees a role-addressed notification goes to."""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core.models import Person, PersonKind, PersonStatus, Role


async def active_with_roles(roles: Iterable[Role | str], conn: BaseDBAsyncClient | None = None) -> list[int]:
    """Roles are a JSON list, which SQLite and PostgreSQL filter differently: the narrow columns of
    active employees are read and the roles checked here (a site has thousands of people)."""
    wanted = {r.value if isinstance(r, Role) else r for r in roles}
    people = (
        await Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE)
        .using_db(conn)
        .values_list("id", "roles")
    )
    return sorted(int(pid) for pid, held in people if wanted & set(held or []))
