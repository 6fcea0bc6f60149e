"""Subscriptions (graphql-transport-ws only): live gate events, alerts and custodial pass tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry
from graphql.error import GraphQLError

from realtime.bus import SubscriberOverflow
from resolvers.alerts import raising as alerts
from resolvers.core import clock
from resolvers.core.errors import UserError, is_id
from resolvers.passes import credentials
from resolvers.scan import event_log
from schema.core.context import Info
from schema.core.errors import bad_input
from schema.core.permissions import IsAuthenticated, IsGateStaff
from schema.core.streams import still_allowed
from schema.core.types import DeviceAlert, GateEvent, PassToken


@strawberry.type
class CoreSubscription:
    @strawberry.subscription(
        permission_classes=[IsGateStaff], description="Every gate event, or those within a zone and its sub-zones."
    )
    async def gate_events(self, info: Info, zone_id: strawberry.ID | None = None) -> AsyncGenerator[GateEvent, None]:
        rt = info.context.rt
        wanted: int | None = None
        if zone_id is not None:
            if not is_id(zone_id) or int(zone_id) not in (await rt.topology.get()).zones:
                raise bad_input("no such zone")
            wanted = int(zone_id)
        last_check = [time.monotonic()]
        try:
            async with rt.bus.subscribe(event_log.CHANNEL) as sub:
                async for message in sub:
                    await still_allowed(info, last_check)
                    if wanted is not None and message["zoneId"] not in (await rt.topology.get()).subtree(wanted):
                        continue
                    info.context.fresh_loaders()
                    yield GateEvent.of_message(message)
        except SubscriberOverflow:
            raise GraphQLError(
                "you fell behind the event stream; subscribe again", extensions={"code": "UNAVAILABLE"}
            ) from None

    @strawberry.subscription(permission_classes=[IsGateStaff])
    async def device_alerts(self, info: Info) -> AsyncGenerator[DeviceAlert, None]:
        last_check = [time.monotonic()]
        async with info.context.rt.bus.subscribe(alerts.CHANNEL) as sub:
            async for message in sub:
                await still_allowed(info, last_check)
                yield DeviceAlert(
                    id=strawberry.ID(str(message["id"])),
                    at=datetime.fromisoformat(message["at"]),
                    kind=message["kind"],
                    message=message["message"],
                    device_id=strawberry.ID(str(message["deviceId"])) if message["deviceId"] else None,
                    gate_id=strawberry.ID(str(message["gateId"])) if message["gateId"] else None,
                )

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
            raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
        last_check = [time.monotonic()]
        while True:
            await still_allowed(info, last_check)
            if not await credentials.credential_still_active(credential.id):
                raise GraphQLError("this pass has been revoked", extensions={"code": "NOT_ALLOWED"})
            now = clock.unix()
            token = credentials.sign_current(rt, credential, now)
            yield PassToken(token=token.token, valid_until=datetime.fromtimestamp(token.valid_until_unix, tz=UTC))
            next_step_at = (token.step + 1) * token.period
            await asyncio.sleep(max(0.05, next_step_at - clock.unix()))
