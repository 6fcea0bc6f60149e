"""GraphQL object types and mutation payloads: visits."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import clock
from resolvers.core import models as m
from resolvers.core.actor import Actor
from resolvers.visits import batches
from resolvers.visits import visits as visit_rules
from schema.access.types import Zone
from schema.core.context import Info
from schema.core.enums import VisitStatus
from schema.core.payloads import UserError
from schema.core.permissions import GATE_STAFF, IsEmployee
from schema.people.types import Person, Session


def may_view_visit(actor: Actor, visit: m.Visit) -> bool:
    """The one place that says who may read a visit: its host, its visitor, and gate staff."""
    return actor.person_id in (visit.host_id, visit.visitor_id) or actor.has_any(*GATE_STAFF)


@strawberry.type(description="A visitor's booked (or emergency) visit, from invitation to exit.")
class Visit:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    status: VisitStatus = strawberry.field(description="Where the visit is in its life (contracts: Visits in detail).")
    visitor_name: str = strawberry.field(description="The visitor's name as the host gave it.")
    phone_masked: str | None = strawberry.field(description="The visitor's phone with its middle hidden.")
    company: str = strawberry.field(description="The visitor's company, as they registered it (may be empty).")
    purpose: str = strawberry.field(description="Why the visitor comes (for an emergency walk-in: the reason).")
    expected_start: datetime = strawberry.field(description="When the visit starts; check-in opens 30 min before.")
    expected_end: datetime = strawberry.field(description="When the visit ends: the visitor's pass stops then.")
    emergency: bool = strawberry.field(description="A walk-in without booking, signed off by the host's head.")
    escorted: bool = strawberry.field(description="The visitor passes gates only with an escort (emergency visits).")
    checked_in_at: datetime | None = strawberry.field(description="When gate staff checked the visitor in.")
    checked_out_at: datetime | None = strawberry.field(description="When the visitor was checked out.")
    invite_code: str | None = strawberry.field(
        default=None, description="Returned once, by inviteVisitor; null everywhere else."
    )
    host_id_: strawberry.Private[int]
    escort_ids_: strawberry.Private[list[int]]

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
            escort_ids_=list(row.escort_ids),
        )

    @strawberry.field(description="The host's name: what a visitor may know of their host.")
    async def host_name(self, info: Info) -> str:
        host = await info.context.loaders.person.load(self.host_id_)
        return host.display_name if host else ""

    @strawberry.field(permission_classes=[IsEmployee], description="The host's record; a visitor sees hostName only.")
    async def host(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.host_id_)
        return Person.of(row) if row else None

    @strawberry.field(
        permission_classes=[IsEmployee],
        description="Employees who may escort the visitor besides the host (addVisitEscort), in the order named.",
    )
    async def escorts(self, info: Info) -> list[Person]:
        rows = await info.context.loaders.person.load_many(self.escort_ids_)
        return [Person.of(r) for r in rows if r is not None]

    @strawberry.field(description="The zones the visit opens (each with its sub-zones and the way in).")
    async def zones(self, info: Info) -> list[Zone]:
        return [Zone.of(z) for z in await info.context.loaders.of(batches.zones_of_visits).load(int(self.id))]

    @strawberry.field(description="Checked in and past expectedEnd.")
    def overstaying(self) -> bool:
        return self.status is VisitStatus.CHECKED_IN and self.expected_end < clock.now()


@strawberry.type(description="A host's visitor checked in at the gate.")
class VisitorArrival:
    at: datetime = strawberry.field(description="When the visitor was checked in.")
    visit: Visit = strawberry.field(description="The visit, as it is now.")


@strawberry.type(description="A printed pass for a checked-in visitor without a phone.")
class VisitorBadge:
    code: str = strawberry.field(description="The text of the badge's QR code.")
    png_url: str = strawberry.field(description="The badge as a PNG image, for gate staff (bearer token).")
    pdf_url: str = strawberry.field(description="The badge as a PDF page to print, for gate staff (bearer token).")
    valid_until: datetime = strawberry.field(description="The badge opens no gate after this (the visit's end).")


@strawberry.type(description="A person security blocked from visiting, known only by their masked ID number.")
class WatchlistEntry:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    id_number_masked: str = strawberry.field(description="The blocked ID number with its middle hidden.")
    reason: str = strawberry.field(description="Why security blocked this person.")
    created_at: datetime = strawberry.field(description="When the block was put in place.")
    lifted_at: datetime | None = strawberry.field(description="When the block was lifted; null while in force.")
    created_by_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.WatchlistEntry) -> WatchlistEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            id_number_masked=row.id_number_masked,
            reason=row.reason,
            created_at=row.created_at,
            lifted_at=row.lifted_at,
            created_by_id_=row.created_by_id,
        )

    @strawberry.field(description="Who put the block in place (null if that person's record is gone).")
    async def created_by(self, info: Info) -> Person | None:
        if self.created_by_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.created_by_id_)
        return Person.of(row) if row else None


@strawberry.type(description="The result of a change to a visit.")
class VisitPayload:
    visit: Visit | None = strawberry.field(default=None, description="The visit after the change; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="A visitor's completed registration: they are signed in.")
class VisitorRegistrationPayload:
    session: Session | None = strawberry.field(default=None, description="The visitor's session; null on errors.")
    visit: Visit | None = strawberry.field(default=None, description="The visit, now waiting for approval.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of issuing a visitor badge.")
class VisitorBadgePayload:
    badge: VisitorBadge | None = strawberry.field(default=None, description="The badge; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


@strawberry.type(description="The result of a change to the watchlist.")
class WatchlistPayload:
    entry: WatchlistEntry | None = strawberry.field(default=None, description="The entry; null on errors.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="What the caller can fix; empty on success."
    )


def _visit_or_none(row: m.Visit | None) -> Visit | None:
    return Visit.of(row) if row else None


@strawberry.type(description="An invitation as its invite code shows it to the visitor, before they register.")
class Invitation:
    visitor_name: str = strawberry.field(description="The visitor's name as the host gave it.")
    phone_masked: str = strawberry.field(description="The visitor's phone with its middle hidden.")
    host_name: str = strawberry.field(description="Who invites them.")
    purpose: str = strawberry.field(description="Why the visitor comes.")
    expected_start: datetime = strawberry.field(description="When the visit starts.")
    expected_end: datetime = strawberry.field(description="When it ends.")
    zone_names: list[str] = strawberry.field(description="The zones the visit opens, by name.")

    @classmethod
    def of(cls, row: visit_rules.Invitation) -> Invitation:
        return cls(
            visitor_name=row.visitor_name,
            phone_masked=row.phone_masked,
            host_name=row.host_name,
            purpose=row.purpose,
            expected_start=row.expected_start,
            expected_end=row.expected_end,
            zone_names=row.zone_names,
        )
