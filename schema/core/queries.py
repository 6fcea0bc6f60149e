"""Root queries."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from graphql.error import GraphQLError

from resolvers.access import grants
from resolvers.core import clock
from resolvers.core import models as m
from resolvers.core.errors import UserError, is_id
from resolvers.core.models import Decision, EntryMethod
from resolvers.passes import credentials
from resolvers.people import people
from resolvers.scan import event_queries
from schema.core.context import Info, actor_of
from schema.core.errors import bad_input, forbidden
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import IsAuthenticated, IsEventReader, IsGateStaff, IsOperator, IsSiteAdmin, IsStaff
from schema.core.types import (
    Department,
    Device,
    DeviceAlert,
    Gate,
    GateEvent,
    Grant,
    PassToken,
    Person,
    Zone,
    event_connection,
)


def _id(value: strawberry.ID | None, what: str) -> int | None:
    if value is None:
        return None
    if not is_id(value) or len(value) > 18:
        raise bad_input(f"no such {what}")
    return int(value)


@strawberry.type
class CoreQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in person.")
    async def me(self, info: Info) -> Person:
        actor = info.context.actor
        assert actor is not None
        return Person.of(await people.get_person(str(actor.person_id)))

    @strawberry.field(permission_classes=[IsStaff])
    async def person(self, info: Info, id: strawberry.ID) -> Person | None:
        row, _ = await attempt(people.get_person(id))
        if row is None:
            return None
        scope = await grants.people_scope(actor_of(info))
        if scope is not None and row.department_id not in scope:
            raise forbidden("you may see your own department's people only")
        return Person.of(row)

    @strawberry.field(permission_classes=[IsStaff])
    async def people(
        self, info: Info, first: int = 50, after: str | None = None, department_id: strawberry.ID | None = None
    ) -> Connection[Person]:
        first = check_first(first)
        query = m.Person.filter(kind=m.PersonKind.EMPLOYEE)
        scope = await grants.people_scope(actor_of(info))
        if scope is not None:
            query = query.filter(department_id__in=scope)
        if department_id is not None:
            query = query.filter(department_id=_id(department_id, "department"))
        cursor = decode_cursor("person", after)
        if cursor is not None:
            query = query.filter(id__gt=cursor)
        rows = await query.order_by("id").limit(first + 1)
        return page_of(rows, first, "person", Person.of)

    @strawberry.field(permission_classes=[IsOperator])
    async def departments(self) -> list[Department]:
        return [Department.of(r) for r in await m.Department.all().order_by("name")]

    @strawberry.field(permission_classes=[IsStaff])
    async def zones(self) -> list[Zone]:
        return [Zone.of(r) for r in await m.Zone.all().order_by("id")]

    @strawberry.field(permission_classes=[IsStaff])
    async def gates(self) -> list[Gate]:
        return [Gate.of(r) for r in await m.Gate.all().order_by("id")]

    @strawberry.field(permission_classes=[IsGateStaff])
    async def devices(self) -> list[Device]:
        return [Device.of(r) for r in await m.Device.all().order_by("id")]

    @strawberry.field(permission_classes=[IsSiteAdmin])
    async def grants(self, person_id: strawberry.ID) -> list[Grant]:
        person = await m.Person.get_or_none(id=_id(person_id, "person"))
        if person is None:
            return []
        rows = await grants.active_grants(person.id, person.department_id)
        return [Grant.of(r) for r in rows]

    @strawberry.field(permission_classes=[IsEventReader], description="The gate event log, newest first.")
    async def gate_events(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        zone_id: strawberry.ID | None = None,
        gate_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
        method: EntryMethod | None = None,
        decision: Decision | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[GateEvent]:
        first = check_first(first)
        zones = None
        if zone_id is not None:
            zones = (await info.context.rt.topology.get()).subtree(_id(zone_id, "zone") or 0)
        where = event_queries.EventFilter(
            person_id=_id(person_id, "person"),
            department_id=_id(department_id, "department"),
            gate_id=_id(gate_id, "gate"),
            zone_ids=zones,
            method=method,
            decision=decision,
            since=since,
            until=until,
        )
        rows = await event_queries.events_page(first, decode_cursor("ev", after), where=where)
        return event_connection(rows, first)

    @strawberry.field(permission_classes=[IsGateStaff])
    async def device_alerts(self, first: int = 50) -> list[DeviceAlert]:
        first = check_first(first)
        rows = await m.DeviceAlert.all().order_by("-id").limit(first)
        return [DeviceAlert.of(r) for r in rows]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The current token of the caller's custodial pass (issued on first use).",
    )
    async def pass_token(self, info: Info) -> PassToken:
        actor = info.context.actor
        assert actor is not None
        try:
            credential = await credentials.custodial_credential_for(info.context.rt, actor)
            token = credentials.sign_current(info.context.rt, credential, clock.unix())
        except UserError as exc:
            raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
        return PassToken(token=token.token, valid_until=datetime.fromtimestamp(token.valid_until_unix, tz=UTC))
