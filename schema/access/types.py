"""GraphQL object types and mutation payloads: access."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models
from schema.core.context import Info
from schema.core.enums import AccessRequestStatus, AntiPassback, GateDirection
from schema.core.payloads import UserError
from schema.people.types import Department, Person


@strawberry.type(
    description="An area of the site, in a tree. Access to a zone opens its gates, its sub-zones' and its "
    "ancestors' (the way in), never a sibling's."
)
class Zone:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    name: str = strawberry.field(description="Unique among its siblings.")
    anti_passback: AntiPassback = strawberry.field(description="How a second IN without an OUT is treated.")
    face_and_pass: bool = strawberry.field(
        description="Its gates need two factors: a face and a pass scan by the same person within 30 s."
    )
    parent_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Zone) -> Zone:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            anti_passback=row.anti_passback,
            face_and_pass=row.face_and_pass,
            parent_id_=row.parent_id,
        )

    @strawberry.field(description="The zone this one lies in; null for a top-level zone.")
    async def parent(self, info: Info) -> Zone | None:
        if self.parent_id_ is None:
            return None
        row = await info.context.loaders.zone.load(self.parent_id_)
        return Zone.of(row) if row else None


@strawberry.type(description="A door, turnstile or barrier into a zone; its devices decide who passes.")
class Gate:
    id: strawberry.ID = strawberry.field(description="Opaque; devices name it in their scans.")
    name: str = strawberry.field(description="As guards know it.")
    direction: GateDirection = strawberry.field(description="Which way it lets people pass.")
    zone_id_: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Gate) -> Gate:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, direction=row.direction, zone_id_=row.zone_id)

    @strawberry.field(description="The zone it leads into.")
    async def zone(self, info: Info) -> Zone:
        row = await info.context.loaders.zone.load(self.zone_id_)
        assert row is not None  # a gate's zone cannot be deleted (RESTRICT)
        return Zone.of(row)


@strawberry.type(
    description="Leave to enter a zone: for one person, a department's members, or everyone holding a position."
)
class Grant:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    valid_from: datetime | None = strawberry.field(description="Null: from when it was given.")
    valid_until: datetime | None = strawberry.field(description="Null: until revoked.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; null while it stands.")
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

    @strawberry.field(description="The zone it opens (with its sub-zones and the way in).")
    async def zone(self, info: Info) -> Zone:
        row = await info.context.loaders.zone.load(self.zone_id_)
        assert row is not None  # a granted zone cannot be deleted (RESTRICT)
        return Zone.of(row)

    @strawberry.field(description="The person it is for; null for a department's or a position's grant.")
    async def person(self, info: Info) -> Person | None:
        if self.person_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None

    @strawberry.field(description="The department whose members it covers (not sub-departments'); else null.")
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None


@strawberry.type(description="The answer to createZone, updateZone and setZoneFaceAndPass.")
class ZonePayload:
    zone: Zone | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to createGate.")
class GatePayload:
    gate: Gate | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to grantAccess, revokeGrant and markGrantReviewed.")
class GrantPayload:
    grant: Grant | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="An employee's request for time-limited access to a maintenance area.")
class AccessRequest:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    status: AccessRequestStatus = strawberry.field(description="PENDING until the area's head decides.")
    reason: str = strawberry.field(description="Why the employee asks.")
    days: int = strawberry.field(description="How many days of access, from approval.")
    created_at: datetime = strawberry.field(description="When it was asked.")
    decided_at: datetime | None = strawberry.field(description="When it was approved or rejected.")
    decision_note: str = strawberry.field(description="The decider's note; empty when none.")
    person_id_: strawberry.Private[int]
    zone_id_: strawberry.Private[int]
    grant_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.AccessRequest) -> AccessRequest:
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

    @strawberry.field(description="Who asks.")
    async def person(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None

    @strawberry.field(description="The maintenance area asked for.")
    async def zone(self, info: Info) -> Zone | None:
        row = await info.context.loaders.zone.load(self.zone_id_)
        return Zone.of(row) if row else None

    @strawberry.field(description="The grant an approval gave; null until approved.")
    async def grant(self, info: Info) -> Grant | None:
        if self.grant_id_ is None:
            return None
        row = await info.context.loaders.grant.load(self.grant_id_)
        return Grant.of(row) if row else None


@strawberry.type(description="One way into a zone: who may enter, and the grant that lets them.")
class AccessLine:
    person: Person = strawberry.field(description="An active employee who may enter.")
    grant: Grant = strawberry.field(description="The grant that lets them in.")
    via: str = strawberry.field(description="PERSON, DEPARTMENT or POSITION: what the grant names.")


@strawberry.type(description="The answer to requestZoneAccess, approveAccessRequest and rejectAccessRequest.")
class AccessRequestPayload:
    request: AccessRequest | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


def _maybe(row: models.AccessRequest | None) -> AccessRequest | None:
    return AccessRequest.of(row) if row else None
