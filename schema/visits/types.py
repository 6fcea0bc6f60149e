"""Visit types and the visit root fields (POLICY 3.2; host, visitor and guard contracts)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime

import strawberry

from resolvers.core import clock
from resolvers.core import models as m
from resolvers.core.actor import Actor
from resolvers.core.models import IdentityDocument
from resolvers.visits import badges, visits
from schema.core.context import Info, actor_of
from schema.core.enums import Gender, VisitStatus
from schema.core.errors import forbidden
from schema.core.payloads import attempt
from schema.core.permissions import GATE_STAFF, IsAuthenticated, IsEmployee, IsGateStaff, IsSiteAdmin
from schema.core.streams import messages_for
from schema.core.types import Person, Session, UserError, Zone


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


@strawberry.input
class InviteVisitorInput:
    visitor_name: str
    phone: str
    purpose: str
    expected_start: datetime
    expected_end: datetime
    zone_ids: list[strawberry.ID]


@strawberry.input
class VisitorDetailsInput:
    id_number: str
    gender: Gender | None = None
    company: str | None = None
    document_type: IdentityDocument | None = IdentityDocument.ID_CARD


@strawberry.input
class EmergencyVisitInput:
    visitor_name: str
    phone: str
    id_number: str
    document_type: IdentityDocument | None = IdentityDocument.ID_CARD
    reason: str
    expected_end: datetime
    zone_ids: list[strawberry.ID]


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


@strawberry.type
class VisitQuery:
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


@strawberry.type
class VisitMutation:
    @strawberry.mutation(permission_classes=[IsEmployee])
    async def invite_visitor(self, info: Info, input: InviteVisitorInput) -> VisitPayload:
        data = visits.InviteInput(
            visitor_name=input.visitor_name,
            phone=input.phone,
            purpose=input.purpose,
            expected_start=input.expected_start,
            expected_end=input.expected_end,
            zone_ids=list(input.zone_ids),
        )
        result, errors = await attempt(visits.invite(info.context.rt, actor_of(info), data))
        if result is None:
            return VisitPayload(errors=errors)
        visit, code = result
        return VisitPayload(visit=Visit.of(visit, invite_code=code))

    @strawberry.mutation
    async def complete_visitor_registration(
        self, info: Info, invite_code: str, input: VisitorDetailsInput
    ) -> VisitorRegistrationPayload:
        details = visits.VisitorDetails(
            id_number=input.id_number,
            gender=input.gender,
            company=input.company,
            document_type=input.document_type or IdentityDocument.ID_CARD,
        )
        result, errors = await attempt(
            visits.complete_registration(info.context.rt, invite_code, details, info.context.address)
        )
        if result is None:
            return VisitorRegistrationPayload(errors=errors)
        visit, tokens = result
        session = Session(
            access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at
        )
        return VisitorRegistrationPayload(session=session, visit=Visit.of(visit))

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def approve_visit(self, info: Info, id: strawberry.ID) -> VisitPayload:
        row, errors = await attempt(visits.approve(info.context.rt, actor_of(info), id))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def reject_visit(self, info: Info, id: strawberry.ID, reason: str) -> VisitPayload:
        row, errors = await attempt(visits.reject(info.context.rt, actor_of(info), id, reason))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def end_visit(self, info: Info, id: strawberry.ID) -> VisitPayload:
        row, errors = await attempt(visits.end(info.context.rt, actor_of(info), id))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Name another employee who may escort the visitor (besides the host).",
    )
    async def add_visit_escort(self, info: Info, id: strawberry.ID, escort_id: strawberry.ID) -> VisitPayload:
        row, errors = await attempt(visits.add_escort(actor_of(info), id, escort_id))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="A walk-in without booking: the host's department head must approve it.",
    )
    async def file_emergency_visit(self, info: Info, input: EmergencyVisitInput) -> VisitPayload:
        data = visits.EmergencyInput(
            visitor_name=input.visitor_name,
            phone=input.phone,
            id_number=input.id_number,
            document_type=input.document_type or IdentityDocument.ID_CARD,
            reason=input.reason,
            expected_end=input.expected_end,
            zone_ids=list(input.zone_ids),
        )
        row, errors = await attempt(visits.file_emergency(info.context.rt, actor_of(info), data))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff])
    async def check_in_visitor(self, info: Info, id: strawberry.ID, id_number_last4: str) -> VisitPayload:
        row, errors = await attempt(visits.check_in(info.context.rt, actor_of(info), id, id_number_last4))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff])
    async def check_out_visitor(self, info: Info, id: strawberry.ID) -> VisitPayload:
        row, errors = await attempt(visits.check_out(info.context.rt, actor_of(info), id))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="A printed pass for a checked-in visitor without a phone (PNG and PDF).",
    )
    async def issue_visitor_badge(self, info: Info, visit_id: strawberry.ID) -> VisitorBadgePayload:
        badge, errors = await attempt(badges.issue(info.context.rt, visit_id))
        if badge is None:
            return VisitorBadgePayload(errors=errors)
        return VisitorBadgePayload(
            badge=VisitorBadge(
                code=badge.code,
                png_url=f"/badges/{visit_id}.png",
                pdf_url=f"/badges/{visit_id}.pdf",
                valid_until=badge.valid_until,
            )
        )

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def block_visitor(
        self, info: Info, id_number: str, reason: str, document_type: IdentityDocument = IdentityDocument.ID_CARD
    ) -> WatchlistPayload:
        row, errors = await attempt(visits.block(info.context.rt, actor_of(info), id_number, document_type, reason))
        return WatchlistPayload(entry=WatchlistEntry.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def unblock_visitor(self, id: strawberry.ID) -> WatchlistPayload:
        row, errors = await attempt(visits.unblock(id))
        return WatchlistPayload(entry=WatchlistEntry.of(row) if row else None, errors=errors)


@strawberry.type
class VisitSubscription:
    @strawberry.subscription(permission_classes=[IsEmployee], description="The host's visitors as they check in.")
    async def visitor_arrivals(self, info: Info) -> AsyncGenerator[VisitorArrival, None]:
        host = actor_of(info).person_id
        async for message in messages_for(info, visits.ARRIVALS, lambda msg: msg.get("hostId") == host):
            row = await m.Visit.get_or_none(id=message["visitId"])
            if row is not None:
                yield VisitorArrival(at=datetime.fromisoformat(message["at"]), visit=Visit.of(row))

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the host's visits starting soon and still not approved.",
    )
    async def visit_reminders(self, info: Info) -> AsyncGenerator[Visit, None]:
        host = actor_of(info).person_id
        async for message in messages_for(info, visits.REMINDERS, lambda msg: msg.get("hostId") == host):
            row = await m.Visit.get_or_none(id=message["visitId"])
            if row is not None:
                yield Visit.of(row)
