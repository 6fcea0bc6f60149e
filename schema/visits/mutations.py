"""Root mutation fields: visits."""

from __future__ import annotations

import strawberry

from resolvers.core.models import IdentityDocument
from resolvers.visits import badges, visits
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import IsAdmin, IsEmployee, IsGateStaff, IsSiteAdmin
from schema.people.types import Session
from schema.visits.inputs import EmergencyVisitInput, InviteVisitorInput, VisitorDetailsInput
from schema.visits.types import (
    Visit,
    VisitorBadge,
    VisitorBadgePayload,
    VisitorRegistrationPayload,
    VisitPayload,
    WatchlistEntry,
    WatchlistPayload,
    _visit_or_none,
)


@strawberry.type
class VisitMutation:
    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Book a visitor (the caller hosts): INVITED, with an inviteCode to send them (returned once).",
    )
    async def invite_visitor(self, info: Info, input: InviteVisitorInput) -> VisitPayload:
        data = visits.InviteInput(
            visitor_name=input.visitor_name,
            phone=input.phone,
            purpose=input.purpose,
            expected_start=input.expected_start,
            expected_end=input.expected_end,
            zone_ids=list(input.zone_ids),
            email=input.email,
        )
        result, errors = await attempt(visits.invite(info.context.rt, actor_of(info), data))
        if result is None:
            return VisitPayload(errors=errors)
        visit, code = result
        return VisitPayload(visit=Visit.of(visit, invite_code=code))

    @strawberry.mutation(
        description="The visitor gives their details with the invite code: the visit waits for approval and "
        "the visitor is signed in."
    )
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

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The host approves a registered visit (an emergency one: the host's department head, "
        "deputy, or whoever the approval has gone up to).",
    )
    async def approve_visit(self, info: Info, id: strawberry.ID) -> VisitPayload:
        row, errors = await attempt(visits.approve(info.context.rt, actor_of(info), id))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The host turns a visit down before check-in, saying why (an emergency one: its approver too).",
    )
    async def reject_visit(self, info: Info, id: strawberry.ID, reason: str) -> VisitPayload:
        row, errors = await attempt(visits.reject(info.context.rt, actor_of(info), id, reason))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The host ends the visit: cancelled before check-in, checked out after; the pass dies.",
    )
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
        description="A walk-in without booking: the host's department head must approve it (or, with none, "
        'the next level up; README "Approvals").',
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

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="ADMIN decides an emergency visit's approval in its approver's place; the reason is audited.",
    )
    async def override_emergency_visit(self, info: Info, id: strawberry.ID, approve: bool, reason: str) -> VisitPayload:
        row, errors = await attempt(visits.override_emergency(info.context.rt, actor_of(info), id, approve, reason))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="At the gate, after comparing the visitor's ID document (its last 4 characters).",
    )
    async def check_in_visitor(self, info: Info, id: strawberry.ID, id_number_last4: str) -> VisitPayload:
        row, errors = await attempt(visits.check_in(info.context.rt, actor_of(info), id, id_number_last4))
        return VisitPayload(visit=_visit_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="The visitor leaves: the pass dies.")
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

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Block a person from visiting by their ID number (stored only as a keyed hash).",
    )
    async def block_visitor(
        self, info: Info, id_number: str, reason: str, document_type: IdentityDocument = IdentityDocument.ID_CARD
    ) -> WatchlistPayload:
        row, errors = await attempt(visits.block(info.context.rt, actor_of(info), id_number, document_type, reason))
        return WatchlistPayload(entry=WatchlistEntry.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Lift a block (it stays on record).")
    async def unblock_visitor(self, id: strawberry.ID) -> WatchlistPayload:
        row, errors = await attempt(visits.unblock(id))
        return WatchlistPayload(entry=WatchlistEntry.of(row) if row else None, errors=errors)
