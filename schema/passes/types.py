"""GraphQL object types and mutation payloads: passes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from resolvers.core import models
from schema.core.enums import (
    CredentialKind,
    CredentialStatus,
)
from schema.core.payloads import UserError

if TYPE_CHECKING:
    pass


@strawberry.type
class Credential:
    id: strawberry.ID
    period_seconds: int
    status: CredentialStatus
    kind: CredentialKind
    device_name: str
    created_at: datetime

    @classmethod
    def of(cls, row: models.Credential) -> Credential:
        return cls(
            id=strawberry.ID(row.cid),
            period_seconds=row.period,
            status=row.status,
            kind=row.kind,
            device_name=row.device_name,
            created_at=row.created_at,
        )


@strawberry.type
class Pass:
    credential_id: strawberry.ID
    period_seconds: int
    status: CredentialStatus
    kind: CredentialKind

    @classmethod
    def of(cls, row: models.Credential) -> Pass:
        return cls(credential_id=strawberry.ID(row.cid), period_seconds=row.period, status=row.status, kind=row.kind)


@strawberry.type
class PassToken:
    token: str
    valid_until: datetime


@strawberry.type
class CredentialPayload:
    credential: Credential | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
