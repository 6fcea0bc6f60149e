"""GraphQL input types: items."""

from __future__ import annotations

import strawberry

from resolvers.core.models import ItemCategory


@strawberry.input(description="One line of what a person declares they carry through a gate.")
class DeclaredItemInput:
    description: str = strawberry.field(description="What it is, in the person's words.")
    quantity: int = strawberry.field(default=1, description="How many.")
    label_code: str | None = strawberry.field(default=None, description="The label's code, for a labelled asset.")


@strawberry.input(description="Goods arriving against an approved purchase, as the warehouse checked them.")
class ReceiptInput:
    quantity: int = strawberry.field(description="How many arrived now (a receipt may be partial).")
    location_id: strawberry.ID = strawberry.field(description="Where they are put.")
    delivery_note: str = strawberry.field(description="The supplier's delivery note number.")
    spec_ok: bool = strawberry.field(description="They match the requested specification.")
    quality_ok: bool = strawberry.field(description="They passed the quality check.")
    notes: str | None = strawberry.field(default=None, description="Anything else the warehouse noticed.")
    category: ItemCategory | None = strawberry.field(
        default=None, description="For something new: the catalogue category of the item it becomes."
    )
    serialized: bool = strawberry.field(
        default=False,
        description="For something new whose purchase did not say: each unit becomes a labelled asset.",
    )
