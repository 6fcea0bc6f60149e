"""GraphQL object types and mutation payloads: access."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from resolvers.core import models
from schema.core.context import Info
from schema.core.enums import (
    AntiPassback,
    GateDirection,
)
from schema.core.payloads import UserError
from schema.people.types import Department, Person

if TYPE_CHECKING:
    pass
from resolvers.core import models as m
from resolvers.core.models import AccessRequestStatus


@strawberry.type
class Zone:
    id: strawberry.ID
    name: str
    anti_passback: AntiPassback
    parent_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Zone) -> Zone:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, anti_passback=row.anti_passback, parent_id_=row.parent_id
        )

    @strawberry.field
    async def parent(self, info: Info) -> Zone | None:
        if self.parent_id_ is None:
            return None
        row = await info.context.loaders.zone.load(self.parent_id_)
        return Zone.of(row) if row else None


@strawberry.type
class Gate:
    id: strawberry.ID
    name: str
    direction: GateDirection
    zone_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Gate) -> Gate:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, direction=row.direction, zone_id_=row.zone_id)

    @strawberry.field
    async def zone(self, info: Info) -> Zone:
        row = await info.context.loaders.zone.load(self.zone_id_)
        assert row is not None  # a gate's zone cannot be deleted (RESTRICT)
        return Zone.of(row)


@strawberry.type
class Grant:
    id: strawberry.ID
    valid_from: datetime | None
    valid_until: datetime | None
    revoked_at: datetime | None
    zone_id_: strawberry.Private[int]
    person_id_: strawberry.Private[int | None]
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Grant) -> Grant:
        return cls(
            id=strawberry.ID(str(row.id)),
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            revoked_at=row.revoked_at,
            zone_id_=row.zone_id,
            person_id_=row.person_id,
            department_id_=row.department_id,
        )

    @strawberry.field
    async def zone(self, info: Info) -> Zone:
        row = await info.context.loaders.zone.load(self.zone_id_)
        assert row is not None
        return Zone.of(row)

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        if self.person_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None


@strawberry.type
class ZonePayload:
    zone: Zone | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GatePayload:
    gate: Gate | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GrantPayload:
    grant: Grant | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AccessRequest:
    id: strawberry.ID
    status: AccessRequestStatus
    reason: str
    days: int
    created_at: datetime
    decided_at: datetime | None
    decision_note: str
    person_id_: strawberry.Private[int]
    zone_id_: strawberry.Private[int]
    grant_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.AccessRequest) -> AccessRequest:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            reason=row.reason,
            days=row.days,
            created_at=row.created_at,
            decided_at=row.decided_at,
            decision_note=row.decision_note,
            person_id_=row.person_id,
            zone_id_=row.zone_id,
            grant_id_=row.grant_id,
        )

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None

    @strawberry.field
    async def zone(self, info: Info) -> Zone | None:
        row = await info.context.loaders.zone.load(self.zone_id_)
        return Zone.of(row) if row else None

    @strawberry.field
    async def grant(self) -> Grant | None:
        row = await m.Grant.get_or_none(id=self.grant_id_) if self.grant_id_ else None
        return Grant.of(row) if row else None


@strawberry.type
class AccessLine:
    person: Person
    grant: Grant
    via: str = strawberry.field(description="PERSON, DEPARTMENT or POSITION")


@strawberry.type
class AccessRequestPayload:
    request: AccessRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _maybe(row: m.AccessRequest | None) -> AccessRequest | None:
    return AccessRequest.of(row) if row else None
