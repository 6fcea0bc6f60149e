"""Who is calling: resolved once per request from the access token."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.core.models import PersonKind, Role


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: int
    session_id: int
    display_name: str
    kind: PersonKind
    roles: frozenset[Role]
    department_id: int | None

    def has_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_employee(self) -> bool:
        return self.kind is PersonKind.EMPLOYEE
