"""GraphQL enums: the domain's own enums, registered with Strawberry (same values as contracts/README.md)."""

from __future__ import annotations

import strawberry

from resolvers.core.errors import ErrorCode
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
    "ErrorCode",
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

DESCRIPTIONS = {
    "AccessRequestStatus": "Where a request for a maintenance area stands.",
    "AntiPassback": "How a zone treats a second IN without an OUT: OFF ignores it, SOFT allows and flags it, "
    "HARD refuses it.",
    "AssetStatus": "Where a labelled asset is in its life.",
    "CredentialKind": "Who holds a pass's key: the phone (PHONE), the server for the phone (CUSTODIAL), a badge.",
    "CredentialStatus": "ACTIVE opens doors; REVOKED and SUPERSEDED never again.",
    "Decision": "A gate's answer to a passage.",
    "DeviceKind": "What a gate device is.",
    "DeviceStatus": "A device's lifecycle: registered → commissioned → in service ⇄ under repair → retired. "
    "Only a commissioned or in-service device opens doors.",
    "Direction": "Into or out of the gate's zone.",
    "EntryMethod": "How a passage was decided: a QR pass, a face, a guard's manual entry, a remote open.",
    "ErrorCode": "The one vocabulary of failure codes: `UserError.code` in payloads and `extensions.code` on "
    "GraphQL errors.",
    "GateDirection": "Which way a gate lets people pass; a BOTH gate is told the direction by the device.",
    "Gender": "As the person gave it.",
    "IdentityDocument": "The kind of identity document a number belongs to.",
    "ItemCategory": "What an item is used for.",
    "MaintenanceKind": "Work done on a gate device.",
    "PersonKind": "An employee, or a visitor signed in for one visit.",
    "PersonStatus": "An OFFBOARDED person holds no pass, grant or session.",
    "RequestKind": "What an item request asks for.",
    "RequestStatus": "Where an item request stands.",
    "Role": "What a person may do; everyone signed in as an employee also holds EMPLOYEE.",
    "VisitStatus": "A visit's life: INVITED → PENDING_APPROVAL → APPROVED → CHECKED_IN → CHECKED_OUT, or "
    "REJECTED, CANCELLED, EXPIRED.",
    "ZoneKind": "What a zone is used for; a MAINTENANCE zone is entered on request.",
}

for _name in __all__:
    # Registers the class itself; it stays the same class, so the domain keeps using it.
    strawberry.enum(globals()[_name], description=DESCRIPTIONS[_name])
