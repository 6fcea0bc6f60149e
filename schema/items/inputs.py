"""GraphQL input types: items."""

from __future__ import annotations

import strawberry

from resolvers.core.models import ItemCategory


@strawberry.input
class DeclaredItemInput:
    description: str
    quantity: int = 1
    label_code: str | None = None


@strawberry.input
class ReceiptInput:
    quantity: int
    location_id: strawberry.ID
    delivery_note: str
    spec_ok: bool
    quality_ok: bool
    notes: str | None = None
    category: ItemCategory | None = None
    serialized: bool = False
