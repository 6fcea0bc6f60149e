"""GraphQL input types: visits."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core.models import IdentityDocument
from schema.core.enums import Gender


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
