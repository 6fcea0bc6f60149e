"""Who decides an approval step: one rule for item requests (POLICY 4.2-4.5) and emergency
visits (3.2.3), so no step waits for somebody who does not exist (README "Approvals").

A step names a department's head or a role. It is read against the organisation as it is
*now*, so a head set or changed later takes over the steps already waiting:

- a department's level is its head and its deputy (either decides), leaving out the requester;
  the requester's own head level is skipped whole (a deputy does not sign their head's request),
  and an offboarded head or deputy counts as none. A level with nobody left is skipped;
- above it come the parent department's level, its parent's, and so on up the tree;
- a role step's level is the role's active holders other than the requester;
- every chain ends with the fallback roles (`GATEHOUSE_APPROVAL_FALLBACK_ROLES`, ADMIN).

A step escalated n times is decided by the chain's n-th level (the top once n passes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q

from resolvers.core.actor import Actor
from resolvers.core.models import Department, Person, PersonKind, PersonStatus, Role


@dataclass(frozen=True)
class Level:
    """Who may decide at one level: named people, or anyone active holding one of the roles."""

    label: str
    people: frozenset[int] = frozenset()
    roles: frozenset[Role] = frozenset()
    department_id: int | None = None

    def includes(self, actor: Actor) -> bool:
        return actor.person_id in self.people or not self.roles.isdisjoint(actor.roles)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "departmentId": self.department_id,
            "people": sorted(self.people),
            "roles": sorted(r.value for r in self.roles),
        }


@dataclass(frozen=True)
class _Dept:
    name: str
    parent_id: int | None
    head_id: int | None
    deputy_id: int | None


@dataclass
class Org:
    """The organisation chart read once (a site has tens of departments), with the active
    employees among its heads and deputies; role holders are read only if a role step asks."""

    departments: dict[int, _Dept]
    active: set[int]
    fallback: frozenset[Role]
    _holders: dict[int, frozenset[Role]] | None = field(default=None, repr=False)

    @classmethod
    async def load(cls, fallback_roles: tuple[str, ...] | frozenset[Role]) -> Org:
        rows = await Department.all().values("id", "name", "parent_id", "head_id", "deputy_id")
        departments = {r["id"]: _Dept(r["name"], r["parent_id"], r["head_id"], r["deputy_id"]) for r in rows}
        named = {d.head_id for d in departments.values()} | {d.deputy_id for d in departments.values()}
        named.discard(None)
        active: set[int] = set()
        if named:
            ids = await Person.filter(id__in=named, kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE).values_list(
                "id", flat=True
            )
            active = {int(i) for i in ids}  # type: ignore[call-overload]
        return cls(departments, active, frozenset(Role(r) for r in fallback_roles))

    # --- chains --------------------------------------------------------------------------------

    def top(self) -> Level:
        return Level(label=" or ".join(sorted(r.value for r in self.fallback)), roles=self.fallback)

    def department_level(self, department_id: int, requester_id: int | None) -> Level | None:
        dept = self.departments.get(department_id)
        if dept is None or (dept.head_id is not None and dept.head_id == requester_id):
            return None
        people = {p for p in (dept.head_id, dept.deputy_id) if p is not None and p in self.active}
        if requester_id is not None:
            people.discard(requester_id)
        if not people:
            return None
        return Level(label=f"the head of {dept.name}", people=frozenset(people), department_id=department_id)

    def head_chain(self, department_id: int | None, requester_id: int | None) -> list[Level]:
        """The department's level, then each level up the tree, then the fallback roles."""
        levels: list[Level] = []
        seen: set[int] = set()
        current = department_id
        while current is not None and current not in seen:  # `seen`: a broken tree never loops
            seen.add(current)
            level = self.department_level(current, requester_id)
            if level is not None:
                levels.append(level)
            dept = self.departments.get(current)
            current = dept.parent_id if dept else None
        return [*levels, self.top()]

    async def role_chain(self, role: Role, requester_id: int | None) -> list[Level]:
        holders = await self._role_holders()
        if any(role in roles for pid, roles in holders.items() if pid != requester_id):
            return [Level(label=role.value, roles=frozenset({role})), self.top()]
        return [self.top()]

    async def _role_holders(self) -> dict[int, frozenset[Role]]:
        if self._holders is None:
            rows = await Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE).values_list("id", "roles")
            self._holders = {
                pid: frozenset(Role(r) for r in roles or [] if r in Role.__members__) for pid, roles in rows
            }
        return self._holders

    async def chain(self, step: dict[str, Any], requester_id: int | None) -> list[Level]:
        if step.get("who") == "role":
            return await self.role_chain(Role(step["role"]), requester_id)
        return self.head_chain(step.get("departmentId"), requester_id)

    async def level(self, step: dict[str, Any], requester_id: int | None) -> Level:
        """Who decides the step now: its chain's level as far up as it has escalated."""
        levels = await self.chain(step, requester_id)
        return levels[min(int(step.get("level", 0)), len(levels) - 1)]

    async def next_level(self, step: dict[str, Any], requester_id: int | None) -> tuple[int, Level] | None:
        """Where the step goes when it escalates; None at the top of its chain."""
        levels = await self.chain(step, requester_id)
        current = int(step.get("level", 0))
        if current + 1 >= len(levels):
            return None
        return current + 1, levels[current + 1]


async def might_decide(actor: Actor, step: dict[str, Any], fallback_roles: tuple[str, ...]) -> bool:
    """A cheap first sift (one query at most) before reading a request: False only when the actor
    can be nowhere on the step's chain, whoever asked and however far it escalated."""
    if not {Role(r) for r in fallback_roles}.isdisjoint(actor.roles):
        return True
    if step.get("who") == "role":
        return Role(step["role"]) in actor.roles
    return await Department.filter(Q(head_id=actor.person_id) | Q(deputy_id=actor.person_id)).exists()


def may_decide(actor: Actor, level: Level, requester_id: int | None) -> bool:
    """Nobody decides their own request, whatever level or role they hold."""
    return actor.person_id != requester_id and level.includes(actor)
