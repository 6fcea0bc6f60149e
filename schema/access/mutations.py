"""Root mutation fields: access."""

from __future__ import annotations

import strawberry

from resolvers.access import grants, sites
from resolvers.access import requests as access_requests
from schema.access.inputs import CreateGateInput, CreateZoneInput, GrantAccessInput, UpdateZoneInput
from schema.access.types import AccessRequestPayload, Gate, GatePayload, Grant, GrantPayload, Zone, ZonePayload, _maybe
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsEmployee,
    IsGrantor,
    IsSiteAdmin,
)


@strawberry.type
class AccessMutation:
    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Add a zone, at the top or inside another.")
    async def create_zone(self, info: Info, input: CreateZoneInput) -> ZonePayload:
        spec = sites.ZoneSpec(
            input.name, input.parent_id, input.anti_passback, input.kind, input.department_id, input.responsible_id
        )
        row, errors = await attempt(sites.create_zone(info.context.rt, spec))
        return ZonePayload(zone=Zone.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Change a zone; fields left out stay.")
    async def update_zone(self, info: Info, id: strawberry.ID, input: UpdateZoneInput) -> ZonePayload:
        spec = sites.ZoneSpec(
            input.name, input.parent_id, input.anti_passback, input.kind, input.department_id, input.responsible_id
        )
        row, errors = await attempt(sites.update_zone(info.context.rt, id, spec, input.move_to_root))
        return ZonePayload(zone=Zone.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin], description="Add a gate into a zone.")
    async def create_gate(self, info: Info, input: CreateGateInput) -> GatePayload:
        row, errors = await attempt(sites.create_gate(info.context.rt, input.name, input.zone_id, input.direction))
        return GatePayload(gate=Gate.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGrantor],
        description="Let one person, a department's members or a position's holders into a zone.",
    )
    async def grant_access(self, info: Info, input: GrantAccessInput) -> GrantPayload:
        schedule = [w.to_dict() for w in input.schedule] if input.schedule else None
        work = grants.grant_access(
            info.context.rt,
            actor_of(info),
            input.zone_id,
            input.person_id,
            input.department_id,
            input.valid_from,
            input.valid_until,
            input.position,
            schedule,
        )
        row, errors = await attempt(work)
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGrantor], description="End a grant now; repeating it changes nothing.")
    async def revoke_grant(self, info: Info, id: strawberry.ID) -> GrantPayload:
        row, errors = await attempt(grants.revoke_grant(info.context.rt, actor_of(info), id))
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGrantor], description="An access review keeps this grant.")
    async def mark_grant_reviewed(self, info: Info, id: strawberry.ID) -> GrantPayload:
        row, errors = await attempt(grants.mark_reviewed(info.context.rt, actor_of(info), id))
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee], description="Ask for time-limited access to a maintenance area."
    )
    async def request_zone_access(
        self, info: Info, zone_id: strawberry.ID, reason: str, days: int
    ) -> AccessRequestPayload:
        row, errors = await attempt(
            access_requests.request_access(info.context.rt, actor_of(info), zone_id, reason, days)
        )
        return AccessRequestPayload(request=_maybe(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee], description="Grant the area for the days asked (the area's responsible head)."
    )
    async def approve_access_request(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> AccessRequestPayload:
        row, errors = await attempt(access_requests.approve(info.context.rt, actor_of(info), id, note))
        return AccessRequestPayload(request=_maybe(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee], description="Refuse a pending request (as approving).")
    async def reject_access_request(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> AccessRequestPayload:
        row, errors = await attempt(access_requests.reject(info.context.rt, actor_of(info), id, note))
        return AccessRequestPayload(request=_maybe(row), errors=errors)
