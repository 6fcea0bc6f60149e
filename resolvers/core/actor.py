"""Who is calling: resolved once per request from the access token."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.core.models import PersonKind, Role

# Roles that act only after a second factor when GATEHOUSE_SECOND_FACTOR is "required".
SECOND_FACTOR_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: int
    session_id: int
    display_name: str
    kind: PersonKind
    roles: frozenset[Role]
    department_id: int | None
    # Roles the person holds that this session may not use: it passed no second factor while the
    # site requires one for them (they are not in `roles`). Refusals say how to get them back.
    withheld_roles: frozenset[Role] = frozenset()

    def has_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_employee(self) -> bool:
        return self.kind is PersonKind.EMPLOYEE
