"""GraphQL input types: scan."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    Direction,
    IdentityDocument,
)


@strawberry.input(description="A person who cannot scan, let through by a guard after checking a document.")
class ManualEntryInput:
    person_id: strawberry.ID = strawberry.field(description="Who is passing.")
    gate_id: strawberry.ID = strawberry.field(description="Where.")
    direction: Direction = strawberry.field(description="IN or OUT.")
    document_type: IdentityDocument = strawberry.field(description="The document the guard checked.")
    document_number_last4: str = strawberry.field(
        description="Its last 4 characters, compared with the number stored at onboarding (MISMATCH otherwise)."
    )
    note: str | None = strawberry.field(default=None, description="Why, for the record.")


@strawberry.input(description="Someone the muster list holds inside, whom a guard has seen or confirmed gone.")
class ConfirmLeftInput:
    person_id: strawberry.ID = strawberry.field(description="Who left.")
    note: str = strawberry.field(description="How the guard knows (seen at the assembly point, reached by phone...).")
    gate_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The OUT or BOTH gate they left by; by default an exit of the outermost zone they are in.",
    )
