"""GraphQL input types: people."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    Gender,
    IdentityDocument,
    Role,
)


@strawberry.input
class CreateDepartmentInput:
    name: str
    parent_id: strawberry.ID | None = None
    head_id: strawberry.ID | None = None


@strawberry.input
class OnboardEmployeeInput:
    display_name: str
    gender: Gender | None = None
    id_number: str
    phone: str
    department_id: strawberry.ID
    position: str
    username: str
    roles: list[Role] | None = None
    document_type: IdentityDocument | None = IdentityDocument.ID_CARD
