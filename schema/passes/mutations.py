"""Root mutation fields: passes."""

from __future__ import annotations

import strawberry

from resolvers.passes import credentials
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import IsAuthenticated
from schema.passes.types import Credential, CredentialPayload


@strawberry.type
class PassMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Register the phone's public key as the caller's one active pass; an earlier one is superseded.",
    )
    async def bind_phone(self, info: Info, public_key: str, device_name: str) -> CredentialPayload:
        row, errors = await attempt(credentials.bind_phone(info.context.rt, actor_of(info), public_key, device_name))
        return CredentialPayload(credential=Credential.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A pass whose key the server keeps, for a phone that cannot hold one.",
    )
    async def request_custodial_pass(self, info: Info, device_name: str) -> CredentialPayload:
        row, errors = await attempt(credentials.issue_custodial(info.context.rt, actor_of(info), device_name))
        return CredentialPayload(credential=Credential.of(row) if row else None, errors=errors)
