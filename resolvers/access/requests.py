"""Time-limited access to a maintenance area, asked for by the employee and decided by the
area's responsible head (POLICY 3.1.2: maintenance staff, when authorised)."""

from __future__ import annotations

from datetime import timedelta

from tortoise.transactions import in_transaction

from resolvers.access import grants
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import AccessRequest, AccessRequestStatus, Role, ZoneKind
from resolvers.people import audit
from resolvers.runtime import Runtime

MAX_DAYS = 30
DECIDE_ANY = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


async def request_access(rt: Runtime, actor: Actor, zone_id: str, reason: str, days: int) -> AccessRequest:
    topo = await rt.topology.get()
    zid = parse_id(zone_id, "zone", "zoneId")
    zone = topo.zones.get(zid)
    if zone is None:
        raise not_found("zone", "zoneId")
    if zone.kind is not ZoneKind.MAINTENANCE:
        raise UserError(ErrorCode.NOT_ALLOWED, "requests are for maintenance areas; other access is granted", "zoneId")
    if zone.responsible_id is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "this area has no responsible head to decide", "zoneId")
    why = validation.name(reason, "reason", max_length=500)
    if not 1 <= days <= MAX_DAYS:
        raise UserError(ErrorCode.INVALID, f"between 1 and {MAX_DAYS} days", "days")
    if await AccessRequest.filter(person_id=actor.person_id, zone_id=zid, status=AccessRequestStatus.PENDING).exists():
        raise UserError(ErrorCode.CONFLICT, "you already asked for this area", "zoneId")
    return await AccessRequest.create(person_id=actor.person_id, zone_id=zid, reason=why, days=days)


async def _decidable(rt: Runtime, actor: Actor, request_id: str) -> AccessRequest:
    request = await AccessRequest.get_or_none(id=parse_id(request_id, "request", "id"))
    if request is None:
        raise not_found("request", "id")
    zone = (await rt.topology.get()).zones.get(request.zone_id)
    if not actor.has_any(*DECIDE_ANY) and (zone is None or zone.responsible_id != actor.person_id):
        raise Forbidden("only the area's responsible head decides this request")
    if request.person_id == actor.person_id:
        raise Forbidden("nobody decides their own request")
    return request


async def approve(rt: Runtime, actor: Actor, request_id: str, note: str | None) -> AccessRequest:
    """Approval grants the area for the days asked; the grant expires by itself."""
    request = await _decidable(rt, actor, request_id)
    if request.status is AccessRequestStatus.APPROVED:
        return request
    if request.status is not AccessRequestStatus.PENDING:
        raise UserError(ErrorCode.NOT_ALLOWED, "this request was already decided")
    now = clock.now()
    # The head acts within their authority over the area, so the grant is given as security would.
    grantor = Actor(
        actor.person_id,
        actor.session_id,
        actor.display_name,
        actor.kind,
        frozenset({Role.SECURITY_ADMIN}),
        actor.department_id,
    )
    async with in_transaction():
        grant = await grants.grant_access(
            rt,
            grantor,
            str(request.zone_id),
            str(request.person_id),
            None,
            now,
            now + timedelta(days=request.days),
            request_id=request.id,
        )
        request.status = AccessRequestStatus.APPROVED
        request.decided_by_id, request.decided_at, request.grant_id = actor.person_id, now, grant.id
        request.decision_note = (note or "")[:500]
        await request.save()
    await rt.grants_changed()  # again after the commit: a scan during the transaction may have cached the old grants
    audit.note_change("access_request", request.id, {"status": "PENDING"}, {"status": "APPROVED", "grant": grant.id})
    return request


async def reject(rt: Runtime, actor: Actor, request_id: str, note: str | None) -> AccessRequest:
    request = await _decidable(rt, actor, request_id)
    if request.status is AccessRequestStatus.REJECTED:
        return request
    if request.status is not AccessRequestStatus.PENDING:
        raise UserError(ErrorCode.NOT_ALLOWED, "this request was already decided")
    request.status = AccessRequestStatus.REJECTED
    request.decided_by_id, request.decided_at = actor.person_id, clock.now()
    request.decision_note = (note or "")[:500]
    await request.save()
    audit.note_change("access_request", request.id, {"status": "PENDING"}, {"status": "REJECTED"})
    return request


async def to_decide(rt: Runtime, actor: Actor, first: int, after_id: int | None = None) -> list[AccessRequest]:
    """Pending requests the caller decides, oldest first (a queue), up to first + 1."""
    topo = await rt.topology.get()
    query = AccessRequest.filter(status=AccessRequestStatus.PENDING)
    if not actor.has_any(*DECIDE_ANY):
        mine = [z.id for z in topo.zones.values() if z.responsible_id == actor.person_id]
        if not mine:
            return []
        query = query.filter(zone_id__in=mine)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


async def mine(actor: Actor, first: int, before_id: int | None = None) -> list[AccessRequest]:
    """The caller's own requests, newest first, up to first + 1."""
    query = AccessRequest.filter(person_id=actor.person_id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)
