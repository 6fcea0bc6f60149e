"""Root query fields: access."""

from __future__ import annotations

import strawberry

from resolvers.access import grants
from resolvers.access import requests as access_requests
from resolvers.access import reviews as access_reviews
from resolvers.core import models as m
from resolvers.core.errors import is_id
from schema.access.types import AccessLine, AccessRequest, Gate, Grant, Zone
from schema.core.context import Info, actor_of
from schema.core.errors import optional_id
from schema.core.permissions import (
    IsEmployee,
    IsReviewer,
    IsSiteAdmin,
    IsStaff,
)
from schema.people.types import Person


async def _in_scope(info: Info, found: list[m.Grant]) -> list[m.Grant]:
    """A department head sees the grants of their own department and its people only."""
    scope = await grants.people_scope(actor_of(info))
    if scope is None:
        return found
    people = {p["id"] for p in await m.Person.filter(department_id__in=scope).values("id")}
    return [g for g in found if g.department_id in scope or g.person_id in people]


@strawberry.type
class AccessQuery:
    @strawberry.field(permission_classes=[IsStaff])
    async def zones(self) -> list[Zone]:
        return [Zone.of(r) for r in await m.Zone.all().order_by("id")]

    @strawberry.field(permission_classes=[IsStaff])
    async def gates(self) -> list[Gate]:
        return [Gate.of(r) for r in await m.Gate.all().order_by("id")]

    @strawberry.field(permission_classes=[IsSiteAdmin])
    async def grants(self, person_id: strawberry.ID) -> list[Grant]:
        person = await m.Person.get_or_none(id=optional_id(person_id, "person"))
        if person is None:
            return []
        rows = await grants.active_grants(person.id, person.department_id)
        return [Grant.of(r) for r in rows]

    @strawberry.field(permission_classes=[IsReviewer], description="Who may enter the zone, and through which grant.")
    async def zone_access_review(self, info: Info, zone_id: strawberry.ID) -> list[AccessLine]:
        if not is_id(zone_id):
            return []
        lines = await access_reviews.who_can_enter(info.context.rt, int(zone_id))
        scope = await grants.people_scope(actor_of(info))
        if scope is not None:  # a department head reviews their own people only
            lines = [x for x in lines if x.person.department_id in scope]
        return [AccessLine(person=Person.of(x.person), grant=Grant.of(x.grant), via=x.via) for x in lines]

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants nobody used for `days` days.")
    async def unused_grants(self, info: Info, days: int = 90) -> list[Grant]:
        found = await access_reviews.unused(info.context.rt, max(1, min(days, 3650)))
        return [Grant.of(g) for g in await _in_scope(info, found)]

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants past their review date.")
    async def grants_due_for_review(self, info: Info) -> list[Grant]:
        return [Grant.of(g) for g in await _in_scope(info, await access_reviews.due_for_review())]

    @strawberry.field(permission_classes=[IsEmployee], description="Requests waiting for the caller's decision.")
    async def access_requests_to_decide(self, info: Info) -> list[AccessRequest]:
        return [AccessRequest.of(r) for r in await access_requests.to_decide(info.context.rt, actor_of(info))]

    @strawberry.field(permission_classes=[IsEmployee])
    async def my_access_requests(self, info: Info) -> list[AccessRequest]:
        return [AccessRequest.of(r) for r in await access_requests.mine(actor_of(info))]
