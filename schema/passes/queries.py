"""Root query fields: passes."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from resolvers.core import clock
from resolvers.core.errors import UserError
from resolvers.passes import credentials
from schema.core.context import Info
from schema.core.errors import coded
from schema.core.permissions import IsAuthenticated
from schema.passes.types import PassToken


@strawberry.type
class PassQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The current token of the caller's custodial pass (issued on first use).",
    )
    async def pass_token(self, info: Info) -> PassToken:
        actor = info.context.actor
        assert actor is not None
        try:
            credential = await credentials.custodial_credential_for(info.context.rt, actor)
            token = credentials.sign_current(info.context.rt, credential, clock.unix())
        except UserError as exc:
            raise coded(exc.code, exc.message) from None
        return PassToken(token=token.token, valid_until=datetime.fromtimestamp(token.valid_until_unix, tz=UTC))
