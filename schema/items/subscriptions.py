"""Root subscription fields: items."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import strawberry

from realtime.messages import ItemCheckChanged, LoanReminder, RequestChanged
from resolvers.items import approvals, listings
from resolvers.people import approvers
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
        permission_classes=[IsEmployee],
        description="Requests reaching a step the caller may decide (as head, deputy, escalated approver, "
        "role or fallback), as they arrive.",
    )
    async def approval_queue_updates(self, info: Info) -> AsyncGenerator[ItemRequest, None]:
        actor = actor_of(info)
        last_check = [time.monotonic()]
        async with info.context.rt.bus.receive(RequestChanged) as changes:
            async for change in changes:
                rt = info.context.rt
                if change.step is None or not await approvers.might_decide(
                    actor, change.step, rt.settings.approval_fallback_roles
                ):
                    continue
                await still_allowed(info, last_check)
                # Whose step it is depends on the organisation now (head, deputy, escalation).
                row = await listings.find_request(change.request_id)
                if row is not None and await approvals.may_act(rt, actor, row):
                    info.context.fresh_loaders()  # each pushed request reads its relations afresh
                    yield ItemRequest.of(row)

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the caller's borrowed assets past their return date.",
    )
    async def loan_reminders(self, info: Info) -> AsyncGenerator[Asset, None]:
        person = actor_of(info).person_id
        async for reminder in messages_for(info, LoanReminder, lambda msg: msg.person_id == person):
            row = await listings.find_asset(reminder.asset_id)
            if row is not None:
                yield Asset.of(row)

    @strawberry.subscription(permission_classes=[IsGateStaff], description="Declared versus scanned, live.")
    async def item_check_updates(
        self, info: Info, gate_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ItemCheck, None]:
        def at_gate(change: ItemCheckChanged) -> bool:
            return gate_id is None or (change.gate_id is not None and str(change.gate_id) == gate_id)

        async for change in messages_for(info, ItemCheckChanged, at_gate):
            row = await listings.find_check(change.check_id)
            if row is not None:
                yield ItemCheck.of(row)
