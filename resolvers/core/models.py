"""The stored records. Personal data columns hold AES-GCM ciphertext (resolvers/core/crypto.py)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Role(str, Enum):
    EMPLOYEE = "EMPLOYEE"
    DEPARTMENT_HEAD = "DEPARTMENT_HEAD"
    HR = "HR"
    SECURITY_ADMIN = "SECURITY_ADMIN"
    GUARD = "GUARD"
    WAREHOUSE = "WAREHOUSE"
    PROCUREMENT = "PROCUREMENT"
    ASSET_MANAGER = "ASSET_MANAGER"
    EXECUTIVE = "EXECUTIVE"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


class Gender(str, Enum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    OTHER = "OTHER"
    UNDISCLOSED = "UNDISCLOSED"


class AntiPassback(str, Enum):
    OFF = "OFF"
    SOFT = "SOFT"
    HARD = "HARD"


class ZoneKind(str, Enum):
    OFFICE = "OFFICE"
    MANAGEMENT = "MANAGEMENT"
    MAINTENANCE = "MAINTENANCE"
    WAREHOUSE = "WAREHOUSE"
    PRODUCTION = "PRODUCTION"
    PUBLIC = "PUBLIC"


class AccessRequestStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class GateDirection(str, Enum):
    IN = "IN"
    OUT = "OUT"
    BOTH = "BOTH"


class Direction(str, Enum):
    IN = "IN"
    OUT = "OUT"


class DeviceKind(str, Enum):
    QR_SCANNER = "QR_SCANNER"
    FACE_TERMINAL = "FACE_TERMINAL"
    TURNSTILE = "TURNSTILE"


class DeviceStatus(str, Enum):
    """Lifecycle (POLICY 5.2-5.4): registered → commissioned → in service ⇄ under repair → retired."""

    REGISTERED = "REGISTERED"
    COMMISSIONED = "COMMISSIONED"
    IN_SERVICE = "IN_SERVICE"
    UNDER_REPAIR = "UNDER_REPAIR"
    RETIRED = "RETIRED"


class MaintenanceKind(str, Enum):
    CLEANING = "CLEANING"
    INSPECTION = "INSPECTION"
    CALIBRATION = "CALIBRATION"
    SOFTWARE_UPDATE = "SOFTWARE_UPDATE"
    REPAIR = "REPAIR"


class Decision(str, Enum):
    GRANTED = "GRANTED"
    DENIED = "DENIED"


class EntryMethod(str, Enum):
    QR = "QR"
    FACE = "FACE"
    MANUAL = "MANUAL"
    REMOTE = "REMOTE"


class IdentityDocument(str, Enum):
    WORK_BADGE = "WORK_BADGE"
    ID_CARD = "ID_CARD"
    PASSPORT = "PASSPORT"
    OTHER = "OTHER"


class CredentialStatus(str, Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    SUPERSEDED = "SUPERSEDED"


class CredentialKind(str, Enum):
    PHONE = "PHONE"
    CUSTODIAL = "CUSTODIAL"
    BADGE = "BADGE"


class PersonStatus(str, Enum):
    ACTIVE = "ACTIVE"
    OFFBOARDED = "OFFBOARDED"


class VisitStatus(str, Enum):
    INVITED = "INVITED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CHECKED_IN = "CHECKED_IN"
    CHECKED_OUT = "CHECKED_OUT"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class PersonKind(str, Enum):
    EMPLOYEE = "EMPLOYEE"
    VISITOR = "VISITOR"


class Department(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    parent: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="children", on_delete=fields.RESTRICT
    )
    parent_id: int | None
    # A plain column: a foreign key here and Person.department would form a cycle
    # the schema generator cannot order; resolvers check that the person exists.
    head_id = fields.IntField(null=True)
    work_schedule_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "department"


class Person(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(PersonKind, max_length=16, default=PersonKind.EMPLOYEE)
    username = fields.CharField(max_length=100, unique=True, null=True)
    password_hash = fields.CharField(max_length=200, null=True)
    display_name = fields.CharField(max_length=200)
    gender = fields.CharEnumField(Gender, max_length=16, null=True)
    document_type = fields.CharEnumField(IdentityDocument, max_length=16, default=IdentityDocument.ID_CARD)
    id_number_enc = fields.BinaryField(null=True)
    id_number_hash = fields.CharField(max_length=64, null=True, db_index=True)
    id_number_masked = fields.CharField(max_length=64, null=True)
    phone_enc = fields.BinaryField(null=True)
    phone_hash = fields.CharField(max_length=64, null=True, db_index=True)
    phone_masked = fields.CharField(max_length=64, null=True)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="members", on_delete=fields.RESTRICT
    )
    department_id: int | None
    position = fields.CharField(max_length=200, default="")
    roles: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharEnumField(PersonStatus, max_length=16, default=PersonStatus.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)
    offboarded_at = fields.DatetimeField(null=True)
    # Set after repeated failed logins; only an admin lifts it.
    locked_at = fields.DatetimeField(null=True)
    # The person's own work schedule; else their department's (attendance).
    work_schedule_id = fields.IntField(null=True)

    class Meta:
        table = "person"


class RefreshSession(Model):
    """One login; the refresh token rotates within it and revoking it ends the access tokens too."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="sessions", on_delete=fields.CASCADE
    )
    person_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    rotated_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_session"


class Credential(Model):
    id = fields.IntField(primary_key=True)
    cid = fields.CharField(max_length=16, unique=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="credentials", on_delete=fields.CASCADE
    )
    person_id: int
    kind = fields.CharEnumField(CredentialKind, max_length=16)
    public_key = fields.BinaryField()
    private_key_enc = fields.BinaryField(null=True)
    period = fields.IntField(default=15)
    status = fields.CharEnumField(CredentialStatus, max_length=16, default=CredentialStatus.ACTIVE)
    device_name = fields.CharField(max_length=200, default="")
    valid_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "credential"
        indexes = (("person_id", "status"),)


class Zone(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    parent: fields.ForeignKeyNullableRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", null=True, related_name="children", on_delete=fields.RESTRICT
    )
    parent_id: int | None
    anti_passback = fields.CharEnumField(AntiPassback, max_length=8, default=AntiPassback.OFF)
    kind = fields.CharEnumField(ZoneKind, max_length=16, default=ZoneKind.OFFICE)
    # The department whose head may grant this zone (and its sub-zones), and the person
    # who approves requests for it (a maintenance area's responsible head).
    department_id = fields.IntField(null=True)
    responsible_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "zone"


class Gate(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="gates", on_delete=fields.RESTRICT
    )
    zone_id: int
    direction = fields.CharEnumField(GateDirection, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "gate"


class Device(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(DeviceKind, max_length=16)
    secret_hash = fields.CharField(max_length=64)
    status = fields.CharEnumField(DeviceStatus, max_length=16, default=DeviceStatus.REGISTERED)
    firmware = fields.CharField(max_length=64, default="")
    last_seen_at = fields.DatetimeField(null=True)
    # Commissioning checklist: network reached, configuration (snapshot) loaded, a test scan decided.
    network_reached_at = fields.DatetimeField(null=True)
    config_loaded_at = fields.DatetimeField(null=True)
    test_scan_at = fields.DatetimeField(null=True)
    last_stats: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    offline_alerted_at = fields.DatetimeField(null=True)
    health_alerted_at = fields.DatetimeField(null=True)
    # The device as a company asset: scrapping that asset retires the device (POLICY 5.4).
    asset_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device"


class DeviceGate(Model):
    id = fields.IntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="gate_links", on_delete=fields.CASCADE
    )
    device_id: int
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="device_links", on_delete=fields.CASCADE
    )
    gate_id: int

    class Meta:
        table = "device_gate"
        unique_together = (("device_id", "gate_id"),)


class Grant(Model):
    id = fields.IntField(primary_key=True)
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="grants", on_delete=fields.RESTRICT
    )
    zone_id: int
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="grants", on_delete=fields.CASCADE
    )
    person_id: int | None
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="grants", on_delete=fields.CASCADE
    )
    department_id: int | None
    position = fields.CharField(max_length=200, null=True)
    valid_from = fields.DatetimeField(null=True)
    valid_until = fields.DatetimeField(null=True)
    # [{"weekdays": [1..7], "start": "HH:MM", "end": "HH:MM"}] in the site's time zone; [] = any time
    schedule: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    review_due_at = fields.DatetimeField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    reviewed_by_id = fields.IntField(null=True)
    request_id = fields.IntField(null=True)
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="grants_given", on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "access_grant"
        indexes = (("person_id", "zone_id"), ("department_id", "zone_id"), ("position", "zone_id"))


class GateEvent(Model):
    """One passage decision, manual entry, remote open or door alarm: the log everything reads."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="events", on_delete=fields.RESTRICT
    )
    gate_id: int
    zone_id = fields.IntField()  # the gate's zone at the time, kept for zone-scoped queries
    device: fields.ForeignKeyNullableRelation[Device] = fields.ForeignKeyField(
        "models.Device", null=True, related_name="events", on_delete=fields.RESTRICT
    )
    device_id: int | None
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="events", on_delete=fields.RESTRICT
    )
    person_id: int | None
    operator: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="operated_events", on_delete=fields.RESTRICT
    )
    operator_id: int | None
    credential_cid = fields.CharField(max_length=16, null=True)
    decision = fields.CharEnumField(Decision, max_length=8, null=True)
    reason = fields.CharField(max_length=32)
    method = fields.CharEnumField(EntryMethod, max_length=8, null=True)
    direction = fields.CharEnumField(Direction, max_length=4, null=True)
    device_ref = fields.CharField(max_length=128, null=True)
    # Set on events a gate decided offline and uploaded later: (device, seq) is stored once.
    device_seq = fields.BigIntField(null=True)
    latency_ms = fields.FloatField(null=True)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    offline = fields.BooleanField(default=False)

    class Meta:
        table = "gate_event"
        indexes = (("person_id", "id"), ("gate_id", "id"), ("zone_id", "id"), ("device_id", "device_ref"))
        unique_together = (("device_id", "device_seq"),)


class DoorReport(Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="door_reports", on_delete=fields.CASCADE
    )
    device_id: int
    gate: fields.ForeignKeyRelation[Gate] = fields.ForeignKeyField(
        "models.Gate", related_name="door_reports", on_delete=fields.CASCADE
    )
    gate_id: int
    state = fields.CharField(max_length=16)
    reported_at = fields.DatetimeField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "door_report"


class DeviceAlert(Model):
    """Something a guard or technician must look at: a misconfigured or silent device, a forced door."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    device: fields.ForeignKeyNullableRelation[Device] = fields.ForeignKeyField(
        "models.Device", null=True, related_name="alerts", on_delete=fields.CASCADE
    )
    device_id: int | None
    gate_id = fields.IntField(null=True)
    kind = fields.CharField(max_length=32)
    message = fields.CharField(max_length=500)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "device_alert"


class DeviceCommand(Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="commands", on_delete=fields.CASCADE
    )
    device_id: int
    gate_id = fields.IntField(null=True)
    command = fields.CharField(max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    issued_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="device_commands", on_delete=fields.SET_NULL
    )
    issued_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    acked_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=1)
    last_sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "device_command"


class Visit(Model):
    """One booked (or emergency) visit: the visitor's person record exists from registration on."""

    id = fields.IntField(primary_key=True)
    host: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="hosted_visits", on_delete=fields.RESTRICT
    )
    host_id: int
    visitor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="visits", on_delete=fields.RESTRICT
    )
    visitor_id: int | None
    visitor_name = fields.CharField(max_length=200)
    phone_enc = fields.BinaryField(null=True)
    phone_hash = fields.CharField(max_length=64, null=True, db_index=True)
    phone_masked = fields.CharField(max_length=64, null=True)
    company = fields.CharField(max_length=200, default="")
    purpose = fields.CharField(max_length=500)
    expected_start = fields.DatetimeField()
    expected_end = fields.DatetimeField()
    status = fields.CharEnumField(VisitStatus, max_length=20, default=VisitStatus.INVITED)
    invite_code_hash = fields.CharField(max_length=64, null=True, unique=True)
    emergency = fields.BooleanField(default=False)
    emergency_reason = fields.CharField(max_length=500, default="")
    escorted = fields.BooleanField(default=False)
    escort_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    approved_by_id = fields.IntField(null=True)
    approved_at = fields.DatetimeField(null=True)
    rejected_reason = fields.CharField(max_length=500, default="")
    checked_in_at = fields.DatetimeField(null=True)
    checked_in_by_id = fields.IntField(null=True)
    checked_out_at = fields.DatetimeField(null=True)
    checked_out_by_id = fields.IntField(null=True)
    site_entries = fields.IntField(default=0)
    reminded_at = fields.DatetimeField(null=True)
    overstay_alerted_at = fields.DatetimeField(null=True)
    anonymised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "visit"
        indexes = (("host_id", "id"), ("status", "expected_end"), ("expected_start",))


class VisitZone(Model):
    id = fields.IntField(primary_key=True)
    visit: fields.ForeignKeyRelation[Visit] = fields.ForeignKeyField(
        "models.Visit", related_name="zone_links", on_delete=fields.CASCADE
    )
    visit_id: int
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="visit_links", on_delete=fields.RESTRICT
    )
    zone_id: int

    class Meta:
        table = "visit_zone"
        unique_together = (("visit_id", "zone_id"),)


class WatchlistEntry(Model):
    """A person security has blocked, known only by the keyed hash of their ID number."""

    id = fields.IntField(primary_key=True)
    id_number_hash = fields.CharField(max_length=64, db_index=True)
    id_number_masked = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=500)
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", null=True, related_name="watchlist_entries", on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    lifted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "watchlist_entry"


class AccessRequest(Model):
    """An employee asks for time-limited access to a zone (a maintenance area); its responsible head decides."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="access_requests", on_delete=fields.CASCADE
    )
    person_id: int
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="access_requests", on_delete=fields.RESTRICT
    )
    zone_id: int
    reason = fields.CharField(max_length=500)
    days = fields.IntField()
    status = fields.CharEnumField(AccessRequestStatus, max_length=16, default=AccessRequestStatus.PENDING)
    decided_by_id = fields.IntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.CharField(max_length=500, default="")
    grant_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "access_request"


class AuditEntry(Model):
    """Append-only: who did what, when, from where; before and after for changes."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor_id = fields.IntField(null=True)
    actor_name = fields.CharField(max_length=200, default="")
    address = fields.CharField(max_length=64, default="")
    action = fields.CharField(max_length=100)
    target_type = fields.CharField(max_length=50, default="")
    target_id = fields.CharField(max_length=50, default="")
    outcome = fields.CharField(max_length=100, default="ok")
    detail: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_entry"
        indexes = (("actor_id", "id"), ("action", "id"), ("target_type", "target_id"))


class Lockdown(Model):
    """A zone (with its sub-zones) shut, or held open for evacuation, until released."""

    id = fields.IntField(primary_key=True)
    zone_id = fields.IntField(null=True)  # with gate_id null too: the whole site
    gate_id = fields.IntField(null=True)  # one gate only
    mode = fields.CharField(max_length=16)  # LOCKDOWN or EVACUATION
    reason = fields.CharField(max_length=500, default="")
    started_by_id = fields.IntField(null=True)
    started_at = fields.DatetimeField()
    released_by_id = fields.IntField(null=True)
    released_at = fields.DatetimeField(null=True)

    class Meta:
        table = "lockdown"


class DeviceHealthSample(Model):
    """One heartbeat's worth of a device's figures, for the rolling health window."""

    id = fields.BigIntField(primary_key=True)
    device_id = fields.IntField()
    at = fields.DatetimeField()
    scans = fields.IntField(default=0)
    decode_failures = fields.IntField(default=0)
    recognition_attempts = fields.IntField(default=0)
    recognition_successes = fields.IntField(default=0)

    class Meta:
        table = "device_health_sample"
        indexes = (("device_id", "at"),)


class MaintenancePlan(Model):
    id = fields.IntField(primary_key=True)
    device_id = fields.IntField()
    kind = fields.CharEnumField(MaintenanceKind, max_length=16)
    interval_days = fields.IntField()
    next_due = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "maintenance_plan"


class MaintenanceRecord(Model):
    id = fields.IntField(primary_key=True)
    device_id = fields.IntField()
    plan_id = fields.IntField(null=True)
    kind = fields.CharEnumField(MaintenanceKind, max_length=16)
    done_at = fields.DatetimeField()
    done_by_id = fields.IntField(null=True)
    notes = fields.CharField(max_length=1000, default="")

    class Meta:
        table = "maintenance_record"


class DeviceTarget(Model):
    """What a device kind must achieve (POLICY 5.2): rates as fractions, latency in milliseconds."""

    kind = fields.CharEnumField(DeviceKind, max_length=16, primary_key=True)
    min_decode_success = fields.FloatField(default=0.98)
    min_recognition_success = fields.FloatField(default=0.95)
    max_latency_ms = fields.FloatField(default=200.0)
    max_denied_ratio = fields.FloatField(default=0.5)

    class Meta:
        table = "device_target"


class WorkSchedule(Model):
    """A shift: weekdays, start and end in the site's time zone (end before start crosses midnight)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    weekdays: fields.JSONField[list[int]] = fields.JSONField(default=list)
    start = fields.CharField(max_length=5)
    end = fields.CharField(max_length=5)
    grace_minutes = fields.IntField(default=5)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "work_schedule"


class AttendanceCorrection(Model):
    """HR's correction of one person's day (a forgotten exit scan, a broken gate), with the reason."""

    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    day = fields.DateField()
    first_in = fields.DatetimeField(null=True)
    last_out = fields.DatetimeField(null=True)
    reason = fields.CharField(max_length=500)
    corrected_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attendance_correction"
        indexes = (("person_id", "day"),)


class ItemCategory(str, Enum):
    OFFICE_SUPPLIES = "OFFICE_SUPPLIES"
    PRODUCTION_MATERIALS = "PRODUCTION_MATERIALS"
    MAINTENANCE_PARTS = "MAINTENANCE_PARTS"
    OTHER = "OTHER"


class AssetStatus(str, Enum):
    IN_STOCK = "IN_STOCK"
    ISSUED = "ISSUED"
    LENT = "LENT"
    SCRAP_PENDING = "SCRAP_PENDING"
    DISPOSED = "DISPOSED"


class RequestKind(str, Enum):
    PURCHASE = "PURCHASE"
    REQUISITION = "REQUISITION"
    BORROW = "BORROW"
    SCRAP = "SCRAP"


class RequestStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"


class Item(Model):
    """A kind of thing: serialized assets carry one label each; stock items are counted per location."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    spec = fields.CharField(max_length=200, default="")
    category = fields.CharEnumField(ItemCategory, max_length=24)
    serialized = fields.BooleanField(default=False)
    unit = fields.CharField(max_length=20, default="pcs")
    department_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "item"


class StockLocation(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    zone_id = fields.IntField(null=True)

    class Meta:
        table = "stock_location"


class StockLevel(Model):
    id = fields.IntField(primary_key=True)
    item_id = fields.IntField()
    location_id = fields.IntField()
    quantity = fields.IntField(default=0)

    class Meta:
        table = "stock_level"
        unique_together = (("item_id", "location_id"),)


class Asset(Model):
    """One labelled unit of a serialized item."""

    id = fields.IntField(primary_key=True)
    item_id = fields.IntField()
    serial = fields.CharField(max_length=100, default="")
    status = fields.CharEnumField(AssetStatus, max_length=16, default=AssetStatus.IN_STOCK)
    location_id = fields.IntField(null=True)
    holder_person_id = fields.IntField(null=True)
    holder_department_id = fields.IntField(null=True)
    owner_department_id = fields.IntField(null=True)
    due_back = fields.DatetimeField(null=True)
    purchased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "asset"
        indexes = (("item_id", "status"), ("holder_person_id",))


class ItemRequest(Model):
    """One workflow instance (purchase, requisition, borrowing, scrapping) and its approval steps."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(RequestKind, max_length=16)
    status = fields.CharEnumField(RequestStatus, max_length=16, default=RequestStatus.PENDING)
    requester_id = fields.IntField()
    department_id = fields.IntField(null=True)
    item_id = fields.IntField(null=True)
    quantity = fields.IntField(default=1)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    steps: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    history: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    fulfilled_quantity = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "item_request"
        indexes = (("status", "kind"), ("requester_id",))


class ItemMovement(Model):
    """Every step an item takes, scanned: the trace an audit follows."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=24)
    item_id = fields.IntField()
    asset_id = fields.IntField(null=True)
    quantity = fields.IntField(default=1)
    location_id = fields.IntField(null=True)
    person_id = fields.IntField(null=True)
    department_id = fields.IntField(null=True)
    request_id = fields.IntField(null=True)
    gate_id = fields.IntField(null=True)
    by_id = fields.IntField(null=True)
    notes = fields.CharField(max_length=500, default="")

    class Meta:
        table = "item_movement"
        indexes = (("item_id", "id"), ("asset_id", "id"), ("person_id", "id"), ("request_id",))


class ItemCheck(Model):
    """A person carrying items through a gate: what they declared, what the labels said, the guard's call."""

    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    gate_id = fields.IntField(null=True)
    direction = fields.CharField(max_length=4)
    declared: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    scanned: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    problems: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16, default="OPEN")  # OPEN, HELD, CLEARED, REFUSED
    decided_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "item_check"
