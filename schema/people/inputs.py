"""GraphQL input types: people."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    Gender,
    IdentityDocument,
    Role,
)


@strawberry.input(description="A new department.")
class CreateDepartmentInput:
    name: str = strawberry.field(description="Unique on the site.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="The department it belongs to.")
    head_id: strawberry.ID | None = strawberry.field(default=None, description="Its head, an employee.")


@strawberry.input(description="A new employee.")
class OnboardEmployeeInput:
    display_name: str = strawberry.field(description="The name people see.")
    gender: Gender | None = strawberry.field(default=None, description="Optional.")
    id_number: str = strawberry.field(
        description="The identity document number: an ID_CARD number must be a valid 18-character PRC ID. "
        "Stored encrypted, shown masked."
    )
    phone: str = strawberry.field(description="Stored encrypted, shown masked.")
    department_id: strawberry.ID = strawberry.field(description="The employee's department.")
    position: str = strawberry.field(description="Job title.")
    username: str = strawberry.field(description="The sign-in name: 2–64 letters, digits, dots, dashes, underscores.")
    roles: list[Role] | None = strawberry.field(
        default=None,
        description="EMPLOYEE is always added; only ADMIN gives ADMIN, SECURITY_ADMIN, AUDITOR, SUPERVISOR or GUARD.",
    )
    document_type: IdentityDocument | None = strawberry.field(
        default=IdentityDocument.ID_CARD, description="Which document `idNumber` is."
    )
