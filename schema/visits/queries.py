"""Root query fields: visits."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from resolvers.core.errors import is_id
from resolvers.visits import listings, visits
from schema.access.types import Zone
from schema.core.context import Info, actor_of
from schema.core.enums import VisitStatus
from schema.core.errors import forbidden
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsAuthenticated,
    IsEmployee,
    IsEventReader,
    IsGateStaff,
    IsSiteAdmin,
)
from schema.visits.types import Invitation, Visit, WatchlistEntry, may_view_visit


def _key(value: strawberry.ID | None) -> int | None:
    """A filter's id: one that cannot be an id matches nothing (ids are opaque, not validated)."""
    if value is None:
        return None
    return int(value) if is_id(value) else -1


@strawberry.type
class VisitQuery:
    @strawberry.field(permission_classes=[IsEventReader], description="Visits with filters, newest first.")
    async def visits(
        self,
        first: int = 50,
        after: str | None = None,
        status: VisitStatus | None = None,
        host_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[Visit]:
        first = check_first(first)
        where = listings.VisitFilter(status=status, host_id=_key(host_id), since=since, until=until)
        rows = await listings.visits_page(first, decode_cursor("visit", after), where)
        return page_of(rows, first, "visit", Visit.of, after=after)

    # A plain list, not a connection: the guard app's contract (ExpectedVisitors) reads it so,
    # and one day's visitors are few.
    @strawberry.field(
        permission_classes=[IsGateStaff],
        description="Visits whose window meets that day (site time zone), by expected start.",
    )
    async def expected_visitors(self, info: Info, day: date) -> list[Visit]:
        rows = await visits.expected_on(day, info.context.rt.settings.time_zone)
        return [Visit.of(r) for r in rows]

    @strawberry.field(
        permission_classes=[IsGateStaff], description="Checked-in visitors past expectedEnd, longest overdue first."
    )
    async def overstaying_visits(self, first: int = 50, after: str | None = None) -> Connection[Visit]:
        first = check_first(first)
        rows = await listings.overstaying_page(first, decode_cursor("visit", after))
        return page_of(rows, first, "visit", Visit.of, after=after)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="One visit: for its host, its visitor and gate staff; null if there is none.",
    )
    async def visit(self, info: Info, id: strawberry.ID) -> Visit | None:
        row, _ = await attempt(visits.get_visit(id))
        if row is None:
            return None
        if not may_view_visit(actor_of(info), row):
            raise forbidden("only the host, the visitor and gate staff may see this visit")
        return Visit.of(row)

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Emergency visits waiting for the caller's sign-off (as the host's head or deputy, the level "
        "it escalated to, or the fallback role), oldest first.",
    )
    async def pending_emergency_visits(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[Visit]:
        first = check_first(first)
        rows = await listings.pending_head_approvals_page(
            info.context.rt, actor_of(info), first, decode_cursor("visit", after)
        )
        return page_of(rows, first, "visit", Visit.of, after=after)

    # Open (no sign-in): the invite code is the visitor's only credential before registering.
    @strawberry.field(
        description="The invitation an unused invite code names (for the visitor's registration page); null for "
        "a code that is not valid. Guessing is rate-limited as for completeVisitorRegistration."
    )
    async def invitation(self, info: Info, invite_code: str) -> Invitation | None:
        row, _ = await attempt(visits.invitation(info.context.rt, invite_code, info.context.address))
        return Invitation.of(row) if row else None

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="The zones the caller may open for a visitor (inviteVisitor, fileEmergencyVisit): those they "
        "may enter themselves; ADMIN and SECURITY_ADMIN any. By name.",
    )
    async def zones_to_invite_to(self, info: Info) -> list[Zone]:
        return [Zone.of(z) for z in await visits.zones_to_invite_to(actor_of(info))]

    @strawberry.field(permission_classes=[IsSiteAdmin], description="Blocks in force, newest first.")
    async def watchlist(self, first: int = 50, after: str | None = None) -> Connection[WatchlistEntry]:
        first = check_first(first)
        rows = await listings.watchlist_page(first, decode_cursor("watch", after))
        return page_of(rows, first, "watch", WatchlistEntry.of, after=after)
