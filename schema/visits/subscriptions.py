"""Root subscription fields: visits."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from resolvers.visits import listings, visits
from schema.core.context import Info, actor_of
from schema.core.permissions import IsEmployee
from schema.core.streams import messages_for
from schema.visits.types import Visit, VisitorArrival


@strawberry.type
class VisitSubscription:
    @strawberry.subscription(permission_classes=[IsEmployee], description="The host's visitors as they check in.")
    async def visitor_arrivals(self, info: Info) -> AsyncGenerator[VisitorArrival, None]:
        host = actor_of(info).person_id
        async for message in messages_for(info, visits.ARRIVALS, lambda msg: msg.get("hostId") == host):
            row = await listings.find_visit(message["visitId"])
            if row is not None:
                yield VisitorArrival(at=datetime.fromisoformat(message["at"]), visit=Visit.of(row))

    @strawberry.subscription(
        permission_classes=[IsEmployee],
        description="Reminders about the host's visits starting soon and still not approved.",
    )
    async def visit_reminders(self, info: Info) -> AsyncGenerator[Visit, None]:
        host = actor_of(info).person_id
        async for message in messages_for(info, visits.REMINDERS, lambda msg: msg.get("hostId") == host):
            row = await listings.find_visit(message["visitId"])
            if row is not None:
                yield Visit.of(row)
