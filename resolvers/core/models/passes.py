"""Pass credentials."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from resolvers.core.models.people import Person


class CredentialStatus(str, Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    SUPERSEDED = "SUPERSEDED"


class CredentialKind(str, Enum):
    PHONE = "PHONE"
    CUSTODIAL = "CUSTODIAL"
    BADGE = "BADGE"


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
