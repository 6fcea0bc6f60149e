"""Root subscription fields: visits."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from realtime.messages import VisitorArrived, VisitReminder
from resolvers.visits import listings
from schema.core.context import Info, actor_of
from schema.core.permissions import IsEmployee
from schema.core.streams import messages_for
from schema.visits.types import Visit, VisitorArrival


@strawberry.type
class VisitSubscription:
    @strawberry.subscription(permission_classes=[IsEmployee], description="The host's visitors as they check in.")
    async def visitor_arrivals(self, info: Info) -> AsyncGenerator[VisitorArrival, None]:
        host = actor_of(info).person_id
        async for arrival in messages_for(info, VisitorArrived, lambda msg: msg.host_id == host):
            row = await listings.find_visit(arrival.visit_id)
            if row is not None:
                yield VisitorArrival(at=arrival.at, visit=Visit.of(row))

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the host's visits starting soon and still not approved.",
    )
    async def visit_reminders(self, info: Info) -> AsyncGenerator[Visit, None]:
        host = actor_of(info).person_id
        async for reminder in messages_for(info, VisitReminder, lambda msg: msg.host_id == host):
            row = await listings.find_visit(reminder.visit_id)
            if row is not None:
                yield Visit.of(row)
