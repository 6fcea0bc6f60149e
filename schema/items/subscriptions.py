"""Root subscription fields: items."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import strawberry

from resolvers.items import approvals, listings
from resolvers.items import flows as item_flows
from resolvers.items import gate_checks as item_checks
from schema.core.context import Info, actor_of
from schema.core.permissions import (
    IsEmployee,
    IsGateStaff,
)
from schema.core.streams import messages_for, still_allowed
from schema.items.types import Asset, ItemCheck, ItemRequest


@strawberry.type
class ItemSubscription:
    @strawberry.subscription(
        permission_classes=[IsEmployee], description="Requests reaching a step the caller may decide, as they arrive."
    )
    async def approval_queue_updates(self, info: Info) -> AsyncGenerator[ItemRequest, None]:
        actor = actor_of(info)
        last_check = [time.monotonic()]
        async with info.context.rt.bus.subscribe(approvals.CHANNEL) as sub:
            async for message in sub:
                step = message.get("step")
                if step is None or not await approvals.may_act(actor, step):
                    continue
                await still_allowed(info, last_check)
                row = await listings.find_request(message["requestId"])
                if row is not None and row.requester_id != actor.person_id:
                    info.context.fresh_loaders()  # each pushed request reads its relations afresh
                    yield ItemRequest.of(row)

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the caller's borrowed assets past their return date.",
    )
    async def loan_reminders(self, info: Info) -> AsyncGenerator[Asset, None]:
        person = actor_of(info).person_id
        async for message in messages_for(info, item_flows.REMINDERS, lambda msg: msg.get("personId") == person):
            row = await listings.find_asset(message["assetId"])
            if row is not None:
                yield Asset.of(row)

    @strawberry.subscription(permission_classes=[IsGateStaff], description="Declared versus scanned, live.")
    async def item_check_updates(
        self, info: Info, gate_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ItemCheck, None]:
        def at_gate(message: dict[str, object]) -> bool:
            return gate_id is None or str(message.get("gateId")) == gate_id

        async for message in messages_for(info, item_checks.CHANNEL, at_gate):
            row = await listings.find_check(message["checkId"])
            if row is not None:
                yield ItemCheck.of(row)
