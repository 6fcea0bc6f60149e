"""GraphQL object types and mutation payloads: passes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.core import models
from schema.core.enums import (
    CredentialKind,
    CredentialStatus,
)
from schema.core.payloads import UserError


@strawberry.type(description="A pass credential: the key a phone (or the server, custodially) signs tokens with.")
class Credential:
    id: strawberry.ID = strawberry.field(description="The credential id the pass tokens carry (PASS_TOKEN.md).")
    period_seconds: int = strawberry.field(description="How long each token step lasts.")
    status: CredentialStatus = strawberry.field(description="Only an ACTIVE credential opens doors.")
    kind: CredentialKind = strawberry.field(description="Who holds the private key.")
    device_name: str = strawberry.field(description="The phone's name, as its owner gave it.")
    created_at: datetime = strawberry.field(description="When it was issued.")

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


@strawberry.type(description="A person's active pass, as the apps show it.")
class Pass:
    credential_id: strawberry.ID = strawberry.field(description="The credential id the pass tokens carry.")
    period_seconds: int = strawberry.field(description="How long each token step lasts.")
    status: CredentialStatus = strawberry.field(description="Only an ACTIVE pass opens doors.")
    kind: CredentialKind = strawberry.field(description="Who holds the private key.")

    @classmethod
    def of(cls, row: models.Credential) -> Pass:
        return cls(credential_id=strawberry.ID(row.cid), period_seconds=row.period, status=row.status, kind=row.kind)


@strawberry.type(description="A signed pass token, to show as a QR code.")
class PassToken:
    token: str = strawberry.field(description="The token text (PASS_TOKEN.md).")
    valid_until: datetime = strawberry.field(description="The last instant a gate accepts it.")


@strawberry.type(description="The answer to bindPhone and requestCustodialPass.")
class CredentialPayload:
    credential: Credential | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")
