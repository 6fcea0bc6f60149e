"""GraphQL enums: the models' own enums, registered with Strawberry (same values as contracts/README.md)."""

from __future__ import annotations

import strawberry

from resolvers.core.models import (
    AccessRequestStatus,
    AntiPassback,
    AssetStatus,
    CredentialKind,
    CredentialStatus,
    Decision,
    DeviceKind,
    DeviceStatus,
    Direction,
    EntryMethod,
    GateDirection,
    Gender,
    IdentityDocument,
    ItemCategory,
    MaintenanceKind,
    PersonKind,
    PersonStatus,
    RequestKind,
    RequestStatus,
    Role,
    VisitStatus,
    ZoneKind,
)

__all__ = [
    "AccessRequestStatus",
    "AntiPassback",
    "AssetStatus",
    "CredentialKind",
    "CredentialStatus",
    "Decision",
    "DeviceKind",
    "DeviceStatus",
    "Direction",
    "EntryMethod",
    "GateDirection",
    "Gender",
    "IdentityDocument",
    "ItemCategory",
    "MaintenanceKind",
    "PersonKind",
    "PersonStatus",
    "RequestKind",
    "RequestStatus",
    "Role",
    "VisitStatus",
    "ZoneKind",
]

for _name in __all__:
    strawberry.enum(globals()[_name])  # registers the class itself; it stays the same class
