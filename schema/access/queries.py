"""Root query fields: access."""

from __future__ import annotations

import strawberry

from resolvers.access import grants, sites
from resolvers.access import requests as access_requests
from resolvers.access import reviews as access_reviews
from resolvers.core.errors import is_id
from schema.access.types import AccessLine, AccessRequest, Gate, Grant, Zone
from schema.core.context import Info, actor_of
from schema.core.errors import optional_id
from schema.core.pagination import (
    Connection,
    check_first,
    decode_cursor,
    decode_cursor_pair,
    empty_page,
    page_of,
    slice_after,
)
from schema.core.permissions import (
    IsEmployee,
    IsReviewer,
    IsSiteAdmin,
    IsStaff,
)
from schema.people.types import Person


def _line(x: access_reviews.AccessLine) -> AccessLine:
    return AccessLine(person=Person.of(x.person), grant=Grant.of(x.grant), via=x.via)


def _line_key(x: access_reviews.AccessLine) -> tuple[int, int]:
    return (x.grant.id, x.person.id)


@strawberry.type
class AccessQuery:
    # zones, gates and grants(personId) stay plain lists: the console's documents read them so
    # (mobile_contracts/gatehouse.graphql Site, PersonGrants), and all three are bounded: a
    # site's zones and doors, one person's live grants.
    @strawberry.field(permission_classes=[IsStaff], description="Every zone of the site.")
    async def zones(self) -> list[Zone]:
        return [Zone.of(r) for r in await sites.all_zones()]

    @strawberry.field(permission_classes=[IsStaff], description="Every gate of the site.")
    async def gates(self) -> list[Gate]:
        return [Gate.of(r) for r in await sites.all_gates()]

    @strawberry.field(
        permission_classes=[IsSiteAdmin],
        description="The live grants that let a person in: their own and their department's.",
    )
    async def grants(self, person_id: strawberry.ID) -> list[Grant]:
        person = optional_id(person_id, "person")
        assert person is not None  # the argument is required
        return [Grant.of(r) for r in await grants.grants_of_person(person)]

    @strawberry.field(
        permission_classes=[IsReviewer],
        description="Who may enter the zone, and through which grant (by grant, then person).",
    )
    async def zone_access_review(
        self, info: Info, zone_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[AccessLine]:
        first = check_first(first)
        cursor = decode_cursor_pair("line", after)
        if not is_id(zone_id):
            return empty_page()
        scope = await grants.people_scope(actor_of(info))  # a department head reviews their own people only
        lines = await access_reviews.who_can_enter(info.context.rt, int(zone_id), scope)
        return page_of(slice_after(lines, first, _line_key, cursor), first, "line", _line, _line_key, after=after)

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants nobody used for `days` days, by id.")
    async def unused_grants(
        self, info: Info, days: int = 90, first: int = 50, after: str | None = None
    ) -> Connection[Grant]:
        first = check_first(first)
        cursor = decode_cursor("grant", after)
        scope = await grants.people_scope(actor_of(info))
        found = await access_reviews.unused(info.context.rt, max(1, min(days, 3650)), scope)
        return page_of(slice_after(found, first, lambda g: g.id, cursor), first, "grant", Grant.of, after=after)

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants past their review date, by id.")
    async def grants_due_for_review(self, info: Info, first: int = 50, after: str | None = None) -> Connection[Grant]:
        first = check_first(first)
        scope = await grants.people_scope(actor_of(info))
        rows = await access_reviews.due_for_review_page(scope, first, decode_cursor("grant", after))
        return page_of(rows, first, "grant", Grant.of, after=after)

    @strawberry.field(
        permission_classes=[IsEmployee], description="Requests waiting for the caller's decision, oldest first."
    )
    async def access_requests_to_decide(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AccessRequest]:
        first = check_first(first)
        rows = await access_requests.to_decide(info.context.rt, actor_of(info), first, decode_cursor("decide", after))
        return page_of(rows, first, "decide", AccessRequest.of, after=after)

    @strawberry.field(permission_classes=[IsEmployee], description="The caller's own requests, newest first.")
    async def my_access_requests(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AccessRequest]:
        first = check_first(first)
        rows = await access_requests.mine(actor_of(info), first, decode_cursor("myrequest", after))
        return page_of(rows, first, "myrequest", AccessRequest.of, after=after)
