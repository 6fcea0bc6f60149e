"""Object types. Each maps a stored row; relations load through the request's DataLoaders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from resolvers.core import models
from resolvers.passes import credentials as credential_domain
from resolvers.scan import event_queries
from resolvers.visits import visits as visit_domain
from schema.core.context import Info
from schema.core.enums import (
    AntiPassback,
    CredentialKind,
    CredentialStatus,
    Decision,
    DeviceKind,
    DeviceStatus,
    Direction,
    EntryMethod,
    GateDirection,
    Gender,
    PersonKind,
    PersonStatus,
    Role,
)
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.permissions import OwnerOrOversight

if TYPE_CHECKING:
    from schema.visits.types import Visit


@strawberry.type
class UserError:
    code: str
    message: str
    field: str | None = None


@strawberry.type
class Department:
    id: strawberry.ID
    name: str
    parent_id_: strawberry.Private[int | None]
    head_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Department) -> Department:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, parent_id_=row.parent_id, head_id_=row.head_id)

    @strawberry.field
    async def parent(self, info: Info) -> Department | None:
        if self.parent_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.parent_id_)
        return Department.of(row) if row else None

    @strawberry.field
    async def head(self, info: Info) -> Person | None:
        if self.head_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.head_id_)
        return Person.of(row) if row else None


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
class Device:
    id: strawberry.ID
    name: str
    kind: DeviceKind
    firmware: str
    last_seen_at: datetime | None
    retired: bool
    status: DeviceStatus
    network_reached_at: datetime | None
    config_loaded_at: datetime | None
    test_scan_at: datetime | None

    @classmethod
    def of(cls, row: models.Device) -> Device:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            kind=row.kind,
            firmware=row.firmware,
            last_seen_at=row.last_seen_at,
            retired=row.status is models.DeviceStatus.RETIRED,
            status=row.status,
            network_reached_at=row.network_reached_at,
            config_loaded_at=row.config_loaded_at,
            test_scan_at=row.test_scan_at,
        )

    @strawberry.field
    async def online(self, info: Info) -> bool:
        return await info.context.rt.state.device_connection(int(self.id)) is not None

    @strawberry.field
    async def gates(self, info: Info) -> list[Gate]:
        topo = await info.context.rt.topology.get()
        ids = sorted(topo.device_gates.get(int(self.id), ()))
        rows = await info.context.loaders.gate.load_many(ids)
        return [Gate.of(r) for r in rows if r is not None]


@strawberry.type
class Credential:
    id: strawberry.ID
    period_seconds: int
    status: CredentialStatus
    kind: CredentialKind
    device_name: str
    created_at: datetime

    @classmethod
    def of(cls, row: models.Credential) -> Credential:
        return cls(
            id=strawberry.ID(row.cid),
            period_seconds=row.period,
            status=row.status,
            kind=row.kind,
            device_name=row.device_name,
            created_at=row.created_at,
        )


@strawberry.type
class Pass:
    credential_id: strawberry.ID
    period_seconds: int
    status: CredentialStatus
    kind: CredentialKind

    @classmethod
    def of(cls, row: models.Credential) -> Pass:
        return cls(credential_id=strawberry.ID(row.cid), period_seconds=row.period, status=row.status, kind=row.kind)


@strawberry.type
class GateEvent:
    id: strawberry.ID
    at: datetime
    decision: Decision | None
    reason: str
    method: EntryMethod | None
    direction: Direction | None
    offline: bool
    gate_id_: strawberry.Private[int]
    person_id_: strawberry.Private[int | None]

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> GateEvent:
        return cls(
            id=strawberry.ID(str(row["id"])),
            at=row["at"],
            decision=models.Decision(row["decision"]) if row["decision"] else None,
            reason=row["reason"],
            method=models.EntryMethod(row["method"]) if row["method"] else None,
            direction=models.Direction(row["direction"]) if row["direction"] else None,
            offline=bool(row["offline"]),
            gate_id_=row["gate_id"],
            person_id_=row["person_id"],
        )

    @classmethod
    def of_message(cls, msg: dict[str, Any]) -> GateEvent:
        return cls.of_row(
            {
                "id": msg["id"],
                "at": datetime.fromisoformat(msg["at"]),
                "decision": msg["decision"],
                "reason": msg["reason"],
                "method": msg["method"],
                "direction": msg["direction"],
                "offline": msg["offline"],
                "gate_id": msg["gateId"],
                "person_id": msg["personId"],
            }
        )

    @strawberry.field
    async def gate(self, info: Info) -> Gate:
        row = await info.context.loaders.gate.load(self.gate_id_)
        assert row is not None  # gates with events cannot be deleted (RESTRICT)
        return Gate.of(row)

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        if self.person_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None


def event_connection(rows: list[dict[str, Any]], first: int) -> Connection[GateEvent]:
    return page_of(rows, first, "ev", GateEvent.of_row, key=lambda r: int(r["id"]))


@strawberry.type
class Person:
    id: strawberry.ID
    display_name: str
    username: str | None
    kind: PersonKind
    status: PersonStatus
    roles: list[Role]
    position: str
    gender: Gender | None
    id_number_masked: str | None
    phone_masked: str | None
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Person) -> Person:
        return cls(
            id=strawberry.ID(str(row.id)),
            display_name=row.display_name,
            username=row.username,
            kind=row.kind,
            status=row.status,
            roles=[models.Role(r) for r in row.roles],
            position=row.position,
            gender=row.gender,
            id_number_masked=row.id_number_masked,
            phone_masked=row.phone_masked,
            department_id_=row.department_id,
        )

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None

    @strawberry.field(name="pass", permission_classes=[OwnerOrOversight])
    async def pass_(self) -> Pass | None:
        row = await credential_domain.active_credential(int(self.id))
        return Pass.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="A visitor's visit (null for employees).")
    async def visit(self) -> Annotated[Visit, strawberry.lazy("schema.visits.types")] | None:
        from schema.visits.types import Visit

        if self.kind is not models.PersonKind.VISITOR:
            return None
        row = await visit_domain.visit_of_visitor(int(self.id))
        return Visit.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Visits this person hosts, newest first.")
    async def hosted_visits(
        self, first: int, after: str | None = None
    ) -> Connection[Annotated[Visit, strawberry.lazy("schema.visits.types")]]:
        from schema.visits.types import Visit

        first = check_first(first)
        rows = await visit_domain.hosted_page(int(self.id), first, decode_cursor("visit", after))
        return page_of(rows, first, "visit", Visit.of)

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Passages of this person, newest first.")
    async def access_log(self, first: int, after: str | None = None) -> Connection[GateEvent]:
        first = check_first(first)
        rows = await event_queries.events_page(first, decode_cursor("ev", after), person_id=int(self.id))
        return event_connection(rows, first)


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
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime


@strawberry.type
class PassToken:
    token: str
    valid_until: datetime


@strawberry.type
class DeviceAlert:
    id: strawberry.ID
    at: datetime
    kind: str
    message: str
    device_id: strawberry.ID | None
    gate_id: strawberry.ID | None

    @classmethod
    def of(cls, row: models.DeviceAlert) -> DeviceAlert:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            kind=row.kind,
            message=row.message,
            device_id=strawberry.ID(str(row.device_id)) if row.device_id else None,
            gate_id=strawberry.ID(str(row.gate_id)) if row.gate_id else None,
        )
