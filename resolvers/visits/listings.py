"""The visit lists the API pages through, one query per page.

Each page is read by keyset: `after` is the id of the last row of the previous page (the
GraphQL layer wraps it in an opaque cursor). A list ordered by something other than its id
finds its place again from that row's sort key, so paging never skips or repeats a row
however many rows came before. Every function returns up to `first + 1` rows: the extra
row only tells the caller there is a next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.models import Visit, VisitStatus, WatchlistEntry
from resolvers.people import approvers
from resolvers.runtime import Runtime
from resolvers.visits import visits


@dataclass(frozen=True)
class VisitFilter:
    status: VisitStatus | None = None
    host_id: int | None = None
    since: datetime | None = None  # the visit ends at or after this
    until: datetime | None = None  # the visit starts before this


async def visits_page(first: int, before_id: int | None, where: VisitFilter) -> list[Visit]:
    """Visits matching the filter, newest first."""
    query = Visit.all()
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.host_id is not None:
        query = query.filter(host_id=where.host_id)
    if where.since is not None:
        query = query.filter(expected_end__gte=where.since)
    if where.until is not None:
        query = query.filter(expected_start__lt=where.until)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def overstaying_page(first: int, after_id: int | None) -> list[Visit]:
    """Checked-in visits past their end, the longest overdue first."""
    query = Visit.filter(status=VisitStatus.CHECKED_IN, expected_end__lt=clock.now())
    if after_id is not None:
        anchor = await Visit.filter(id=after_id).values_list("expected_end", flat=True)
        if not anchor:
            return []
        end = anchor[0]
        query = query.filter(Q(expected_end__gt=end) | Q(expected_end=end, id__gt=after_id))
    return await query.order_by("expected_end", "id").limit(first + 1)


async def pending_head_approvals_page(rt: Runtime, actor: Actor, first: int, after_id: int | None) -> list[Visit]:
    """Emergency visits the caller may sign now (the host's head or deputy, the level it escalated
    to, the fallback roles; never their own), oldest first. Few wait at once: read, then sorted out."""
    query = Visit.filter(emergency=True, status=VisitStatus.PENDING_APPROVAL).exclude(host_id=actor.person_id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    waiting = await query.order_by("id")
    if not waiting:
        return []
    chart = await approvers.Org.load(rt.settings.approval_fallback_roles)
    out = []
    for visit in waiting:
        if approvers.may_decide(actor, await visits.emergency_deciders(rt, visit, chart), visit.host_id):
            out.append(visit)
            if len(out) > first:
                break
    return out


async def watchlist_page(first: int, before_id: int | None) -> list[WatchlistEntry]:
    """Blocks still in force, newest first."""
    query = WatchlistEntry.filter(lifted_at=None)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def find_visit(visit_id: int) -> Visit | None:
    """A visit named by a bus message (it may have gone since)."""
    return await Visit.get_or_none(id=visit_id)
