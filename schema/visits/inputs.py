"""GraphQL input types: visits."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core.models import IdentityDocument
from schema.core.enums import Gender


@strawberry.input(description="A host's booking of a visitor.")
class InviteVisitorInput:
    visitor_name: str = strawberry.field(description="The visitor's name.")
    phone: str = strawberry.field(description="The visitor's phone number (stored encrypted).")
    purpose: str = strawberry.field(description="Why the visitor comes (up to 500 characters).")
    expected_start: datetime = strawberry.field(description="When the visit starts.")
    expected_end: datetime = strawberry.field(description="When it ends: after start, at most 14 days later.")
    zone_ids: list[strawberry.ID] = strawberry.field(
        description="Zones the visit opens; the host may name only zones they may enter (ADMIN, SECURITY_ADMIN any)."
    )
    email: str | None = strawberry.field(
        default=None,
        description="The visitor's email, optional: the invitation (its link and QR) is emailed there when the "
        "server has an email channel. Kept only in the encrypted outbox until sent.",
    )


@strawberry.input(description="What a visitor tells about themselves when registering.")
class VisitorDetailsInput:
    id_number: str = strawberry.field(description="The identity document's number (stored encrypted).")
    gender: Gender | None = strawberry.field(default=None, description="Optional.")
    company: str | None = strawberry.field(default=None, description="The visitor's company, if any.")
    document_type: IdentityDocument | None = strawberry.field(
        default=IdentityDocument.ID_CARD, description="An ID_CARD number must be a valid PRC ID number."
    )


@strawberry.input(description="A walk-in without booking; the host's department head must approve it.")
class EmergencyVisitInput:
    visitor_name: str = strawberry.field(description="The visitor's name.")
    phone: str = strawberry.field(description="The visitor's phone number (stored encrypted).")
    id_number: str = strawberry.field(description="The identity document's number, checked at once.")
    document_type: IdentityDocument | None = strawberry.field(
        default=IdentityDocument.ID_CARD, description="An ID_CARD number must be a valid PRC ID number."
    )
    reason: str = strawberry.field(description="Why the visit cannot wait for a booking.")
    expected_end: datetime = strawberry.field(description="When it ends; the visit starts now.")
    zone_ids: list[strawberry.ID] = strawberry.field(description="Zones the visit opens, as for a booking.")
