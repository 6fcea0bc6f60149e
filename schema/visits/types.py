"""GraphQL object types and mutation payloads: visits."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import clock
from resolvers.core import models as m
from resolvers.core.actor import Actor
from schema.access.types import Zone
from schema.core.context import Info
from schema.core.enums import VisitStatus
from schema.core.payloads import UserError
from schema.core.permissions import GATE_STAFF, IsEmployee
from schema.people.types import Person, Session


def may_view_visit(actor: Actor, visit: m.Visit) -> bool:
    """The one place that says who may read a visit: its host, its visitor, and gate staff."""
    return actor.person_id in (visit.host_id, visit.visitor_id) or actor.has_any(*GATE_STAFF)


@strawberry.type
class Visit:
    id: strawberry.ID
    status: VisitStatus
    visitor_name: str
    phone_masked: str | None
    company: str
    purpose: str
    expected_start: datetime
    expected_end: datetime
    emergency: bool
    escorted: bool
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    invite_code: str | None = strawberry.field(
        default=None, description="Returned once, by inviteVisitor; null everywhere else."
    )
    host_id_: strawberry.Private[int]
    visitor_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.Visit, invite_code: str | None = None) -> Visit:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            visitor_name=row.visitor_name,
            phone_masked=row.phone_masked,
            company=row.company,
            purpose=row.purpose,
            expected_start=row.expected_start,
            expected_end=row.expected_end,
            emergency=row.emergency,
            escorted=row.escorted,
            checked_in_at=row.checked_in_at,
            checked_out_at=row.checked_out_at,
            invite_code=invite_code,
            host_id_=row.host_id,
            visitor_id_=row.visitor_id,
        )

    @strawberry.field
    async def host_name(self, info: Info) -> str:
        host = await info.context.loaders.person.load(self.host_id_)
        return host.display_name if host else ""

    @strawberry.field(permission_classes=[IsEmployee], description="The host's record; a visitor sees hostName only.")
    async def host(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.host_id_)
        return Person.of(row) if row else None

    @strawberry.field
    async def zones(self, info: Info) -> list[Zone]:
        return [Zone.of(z) for z in await info.context.loaders.visit_zones.load(int(self.id))]

    @strawberry.field(description="Checked in and past expectedEnd.")
    def overstaying(self) -> bool:
        return self.status is VisitStatus.CHECKED_IN and self.expected_end < clock.now()


@strawberry.type
class VisitorArrival:
    at: datetime
    visit: Visit


@strawberry.type
class VisitorBadge:
    code: str = strawberry.field(description="The text of the badge's QR code.")
    png_url: str
    pdf_url: str
    valid_until: datetime


@strawberry.type
class WatchlistEntry:
    id: strawberry.ID
    id_number_masked: str
    reason: str
    created_at: datetime
    lifted_at: datetime | None

    @classmethod
    def of(cls, row: m.WatchlistEntry) -> WatchlistEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            id_number_masked=row.id_number_masked,
            reason=row.reason,
            created_at=row.created_at,
            lifted_at=row.lifted_at,
        )


@strawberry.type
class VisitPayload:
    visit: Visit | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class VisitorRegistrationPayload:
    session: Session | None = None
    visit: Visit | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class VisitorBadgePayload:
    badge: VisitorBadge | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WatchlistPayload:
    entry: WatchlistEntry | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _visit_or_none(row: m.Visit | None) -> Visit | None:
    return Visit.of(row) if row else None
