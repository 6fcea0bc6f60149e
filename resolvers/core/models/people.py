"""Departments, people, sessions and the audit log."""

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
    # The supervision team (POLICY 7.1): security leads it, HR, finance and audit join.
    SUPERVISOR = "SUPERVISOR"
    FINANCE = "FINANCE"


# Who reads site-wide reports and the scheduled summaries (the supervision team reads as auditors
# do): the permission class IsReportReader, the report downloads and the summaries' recipients.
REPORT_READERS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.EXECUTIVE, Role.AUDITOR, Role.SUPERVISOR})


class Gender(str, Enum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    OTHER = "OTHER"
    UNDISCLOSED = "UNDISCLOSED"


class IdentityDocument(str, Enum):
    WORK_BADGE = "WORK_BADGE"
    ID_CARD = "ID_CARD"
    PASSPORT = "PASSPORT"
    OTHER = "OTHER"


class PersonStatus(str, Enum):
    ACTIVE = "ACTIVE"
    OFFBOARDED = "OFFBOARDED"


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
    # Decides approvals in the head's place (README "Approvals"); plain for the same reason.
    deputy_id = fields.IntField(null=True)
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
    # Notifications (migration 0025): the email sealed like the phone; quiet hours "HH:MM" site time.
    email_enc = fields.BinaryField(null=True)
    email_hash = fields.CharField(max_length=64, null=True, db_index=True)
    email_masked = fields.CharField(max_length=64, null=True)
    quiet_hours_start = fields.CharField(max_length=5, null=True)
    quiet_hours_end = fields.CharField(max_length=5, null=True)
    notify_language = fields.CharField(max_length=8, default="zh-CN")
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="members", on_delete=fields.RESTRICT
    )
    department_id: int | None
    position = fields.CharField(max_length=200, default="")
    roles: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharEnumField(PersonStatus, max_length=16, default=PersonStatus.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)
    offboarded_at = fields.DatetimeField(null=True)
    # Unused since sign-in failures bring expiring delays (LoginThrottle), not a lock.
    locked_at = fields.DatetimeField(null=True)
    # Set while the password is one someone else issued (onboarding, a CLI reset): the person
    # must change it, and it stops working 7 days after this instant.
    password_issued_at = fields.DatetimeField(null=True)
    # The person's own work schedule; else their department's (attendance).
    work_schedule_id = fields.IntField(null=True)
    # Second factor (RFC 6238 TOTP): the secret AES-GCM sealed like the ID number; a new one waits
    # in `totp_pending_enc` until a code from it is confirmed. The last accepted time step makes
    # each code good once: a code of that step or an earlier one is refused.
    totp_secret_enc = fields.BinaryField(null=True)
    totp_pending_enc = fields.BinaryField(null=True)
    totp_enabled_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(null=True)
    # When an erasure (PIPL art. 47) replaced the person's personal data by a pseudonym.
    erased_at = fields.DatetimeField(null=True)

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
    # When this sign-in passed a second factor (null: a password alone), and when the person last
    # proved who they are (sign-in or confirmIdentity); a refresh renews neither.
    second_factor_at = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_session"


class TotpRecoveryCode(Model):
    """A one-time code that stands in for a TOTP code (a lost phone); stored as a keyed hash,
    shown once when the second factor is confirmed, spent on use."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="totp_recovery_codes", on_delete=fields.CASCADE
    )
    person_id: int
    code_hash = fields.CharField(max_length=64, unique=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "totp_recovery_code"


class RetiredRefreshToken(Model):
    """A refresh token already traded in: presenting it again means it was copied, and the
    session it belonged to is revoked at once (whoever rotated first, thief or owner)."""

    token_hash = fields.CharField(max_length=64, primary_key=True)
    session: fields.ForeignKeyRelation[RefreshSession] = fields.ForeignKeyField(
        "models.RefreshSession", related_name="retired_tokens", on_delete=fields.CASCADE
    )
    session_id: int
    retired_at = fields.DatetimeField()

    class Meta:
        table = "retired_refresh_token"


class LoginThrottle(Model):
    """Failed sign-ins under one key (an account name or a client address, hashed): after a few,
    each further failure blocks the key for a growing while that expires on its own."""

    key = fields.CharField(max_length=64, primary_key=True)
    failures = fields.IntField(default=0)
    last_failed_at = fields.DatetimeField()
    blocked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "login_throttle"


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
