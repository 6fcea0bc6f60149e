"""Root query fields: visits."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.visits import visits
from schema.core.context import Info, actor_of
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
from schema.visits.types import Visit, WatchlistEntry, may_view_visit


@strawberry.type
class VisitQuery:
    @strawberry.field(permission_classes=[IsEventReader], description="Visits with filters, newest first.")
    async def visits(
        self,
        first: int = 50,
        after: str | None = None,
        status: m.VisitStatus | None = None,
        host_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[Visit]:
        first = check_first(first)
        query = m.Visit.all()
        if status is not None:
            query = query.filter(status=status)
        if host_id is not None:
            query = query.filter(host_id=int(host_id) if is_id(host_id) else -1)
        if since is not None:
            query = query.filter(expected_end__gte=since)
        if until is not None:
            query = query.filter(expected_start__lt=until)
        cursor = decode_cursor("visit", after)
        if cursor is not None:
            query = query.filter(id__lt=cursor)
        rows = await query.order_by("-id").limit(first + 1)
        return page_of(rows, first, "visit", Visit.of)

    @strawberry.field(
        permission_classes=[IsGateStaff],
        description="Visits whose window meets that day (site time zone), by expected start.",
    )
    async def expected_visitors(self, info: Info, day: date) -> list[Visit]:
        rows = await visits.expected_on(day, info.context.rt.settings.time_zone)
        return [Visit.of(r) for r in rows]

    @strawberry.field(permission_classes=[IsGateStaff], description="Checked-in visitors past expectedEnd.")
    async def overstaying_visits(self) -> list[Visit]:
        return [Visit.of(r) for r in await visits.overstaying()]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def visit(self, info: Info, id: strawberry.ID) -> Visit | None:
        row, _ = await attempt(visits.get_visit(id))
        if row is None:
            return None
        if not may_view_visit(actor_of(info), row):
            raise forbidden("only the host, the visitor and gate staff may see this visit")
        return Visit.of(row)

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Emergency visits waiting for the caller's sign-off as department head.",
    )
    async def pending_emergency_visits(self, info: Info) -> list[Visit]:
        return [Visit.of(r) for r in await visits.pending_head_approvals(actor_of(info))]

    @strawberry.field(permission_classes=[IsSiteAdmin])
    async def watchlist(self) -> list[WatchlistEntry]:
        rows = await m.WatchlistEntry.filter(lifted_at=None).order_by("-id")
        return [WatchlistEntry.of(r) for r in rows]
