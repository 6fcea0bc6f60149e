"""GraphQL input types: scan."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    Direction,
    IdentityDocument,
)


@strawberry.input
class ManualEntryInput:
    person_id: strawberry.ID
    gate_id: strawberry.ID
    direction: Direction
    document_type: IdentityDocument
    document_number_last4: str
    note: str | None = None
