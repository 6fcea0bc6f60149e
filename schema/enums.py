"""GraphQL enums: the models' own enums, registered with Strawberry (same values as contracts/README.md)."""

from __future__ import annotations

import strawberry

from api.models import (
    AntiPassback,
    CredentialKind,
    CredentialStatus,
    Decision,
    DeviceKind,
    Direction,
    EntryMethod,
    GateDirection,
    Gender,
    IdentityDocument,
    PersonKind,
    PersonStatus,
    Role,
)

for _enum in (
    AntiPassback,
    CredentialKind,
    CredentialStatus,
    Decision,
    DeviceKind,
    Direction,
    EntryMethod,
    Gender,
    GateDirection,
    IdentityDocument,
    PersonKind,
    PersonStatus,
    Role,
):
    strawberry.enum(_enum)  # registers the class itself; it stays the same class

__all__ = [
    "AntiPassback",
    "CredentialKind",
    "CredentialStatus",
    "Decision",
    "DeviceKind",
    "Direction",
    "EntryMethod",
    "GateDirection",
    "Gender",
    "IdentityDocument",
    "PersonKind",
    "PersonStatus",
    "Role",
]
