"""The stored records, one module per domain, gathered here because Tortoise registers one
module list (`resolvers.core.db.MODELS`) and FK strings name `models.<Class>`. Personal data
columns hold AES-GCM ciphertext (resolvers/core/crypto.py)."""

from __future__ import annotations

from resolvers.core.models.access import (
    AccessRequest,
    AccessRequestStatus,
    AntiPassback,
    Gate,
    GateDirection,
    Grant,
    Zone,
    ZoneKind,
)
from resolvers.core.models.alerts import (
    DeviceAlert,
)
from resolvers.core.models.attendance import (
    AttendanceCorrection,
    ScheduledSummary,
    WorkSchedule,
)
from resolvers.core.models.devices import (
    Device,
    DeviceCommand,
    DeviceGate,
    DeviceHealthSample,
    DeviceKind,
    DeviceSnapshot,
    DeviceStatus,
    DeviceTarget,
    DoorReport,
    Lockdown,
    MaintenanceKind,
    MaintenancePlan,
    MaintenanceRecord,
)
from resolvers.core.models.faces import FaceConsent, FaceTemplate
from resolvers.core.models.items import (
    Asset,
    AssetStatus,
    Item,
    ItemCategory,
    ItemCheck,
    ItemMovement,
    ItemRequest,
    RequestKind,
    RequestStatus,
    StockLevel,
    StockLocation,
)
from resolvers.core.models.keys import KeyMaterial
from resolvers.core.models.ops import BackupRun
from resolvers.core.models.passes import (
    Credential,
    CredentialKind,
    CredentialStatus,
)
from resolvers.core.models.people import (
    AuditEntry,
    Department,
    Gender,
    IdentityDocument,
    LoginThrottle,
    Person,
    PersonKind,
    PersonStatus,
    RefreshSession,
    RetiredRefreshToken,
    Role,
    TotpRecoveryCode,
)
from resolvers.core.models.retention import (
    AttendanceDayTally,
    AuditRedaction,
    RetentionMark,
)
from resolvers.core.models.scan import (
    Decision,
    Direction,
    EntryMethod,
    GateEvent,
)
from resolvers.core.models.visits import (
    Visit,
    VisitStatus,
    VisitZone,
    WatchlistEntry,
)

__all__ = [
    "AccessRequest",
    "AccessRequestStatus",
    "AntiPassback",
    "Asset",
    "AssetStatus",
    "AttendanceCorrection",
    "AttendanceDayTally",
    "AuditEntry",
    "AuditRedaction",
    "BackupRun",
    "Credential",
    "CredentialKind",
    "CredentialStatus",
    "Decision",
    "Department",
    "Device",
    "DeviceAlert",
    "DeviceCommand",
    "DeviceGate",
    "DeviceHealthSample",
    "DeviceKind",
    "DeviceSnapshot",
    "DeviceStatus",
    "DeviceTarget",
    "Direction",
    "DoorReport",
    "EntryMethod",
    "FaceConsent",
    "FaceTemplate",
    "Gate",
    "GateDirection",
    "GateEvent",
    "Gender",
    "Grant",
    "IdentityDocument",
    "Item",
    "ItemCategory",
    "ItemCheck",
    "ItemMovement",
    "ItemRequest",
    "KeyMaterial",
    "Lockdown",
    "LoginThrottle",
    "MaintenanceKind",
    "MaintenancePlan",
    "MaintenanceRecord",
    "Person",
    "PersonKind",
    "PersonStatus",
    "RefreshSession",
    "RequestKind",
    "RequestStatus",
    "RetentionMark",
    "RetiredRefreshToken",
    "Role",
    "ScheduledSummary",
    "StockLevel",
    "StockLocation",
    "TotpRecoveryCode",
    "Visit",
    "VisitStatus",
    "VisitZone",
    "WatchlistEntry",
    "WorkSchedule",
    "Zone",
    "ZoneKind",
]
