"""Root subscription fields: passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry

from resolvers.core import clock
from resolvers.core.errors import ErrorCode, UserError
from resolvers.passes import credentials
from schema.core.context import Info
from schema.core.errors import coded
from schema.core.permissions import IsAuthenticated
from schema.core.streams import still_allowed
from schema.passes.types import PassToken


@strawberry.type
class PassSubscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="Each step's token of the caller's custodial pass, as the step begins.",
    )
    async def pass_tokens(self, info: Info) -> AsyncGenerator[PassToken, None]:
        rt = info.context.rt
        actor = info.context.actor
        assert actor is not None
        try:
            credential = await credentials.custodial_credential_for(rt, actor)
        except UserError as exc:
            raise coded(exc.code, exc.message) from None
        last_check = [time.monotonic()]
        while True:
            await still_allowed(info, last_check)
            if not await credentials.credential_still_active(credential.id):
                raise coded(ErrorCode.NOT_ALLOWED, "this pass has been revoked")
            now = clock.unix()
            token = credentials.sign_current(rt, credential, now)
            yield PassToken(token=token.token, valid_until=datetime.fromtimestamp(token.valid_until_unix, tz=UTC))
            next_step_at = (token.step + 1) * token.period
            await asyncio.sleep(max(0.05, next_step_at - clock.unix()))
