"""One approval engine for every item workflow (POLICY 4.2-4.5): steps by role or by a
department's head, approve / reject with a comment, resubmission, full history, and each
approver's queue (by query, and live on the `approvals` channel).

Who decides a step is resolved by resolvers/people/approvers.py (the head, a deputy, the next
level up, the fallback roles); a step waiting past the deadline escalates one level (upkeep);
an ADMIN may override any pending step, with a reason (README "Approvals")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from realtime.messages import RequestChanged
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import Asset, AssetStatus, ItemRequest, RequestKind, RequestStatus, Role
from resolvers.notifications import journeys
from resolvers.notifications.channels.registry import channels_of
from resolvers.people import approvers, audit
from resolvers.runtime import Runtime

# Kinds whose last approval carries out the request itself, in the approval's transaction (a
# stocktake adjustment: the count already scanned everything, no warehouse step is left). The
# module that submits such requests registers its step here (resolvers/items/stocktakes.py).
WHEN_APPROVED: dict[RequestKind, Callable[[ItemRequest, int | None], Awaitable[None]]] = {}


async def steps_for(
    kind: RequestKind, department_id: int | None, owner_department_id: int | None
) -> list[dict[str, Any]]:
    head: dict[str, Any] = {"who": "head", "departmentId": department_id}
    if kind is RequestKind.SCRAP and owner_department_id is not None:
        # Scrapping: the head of the department the asset belongs to, whoever reported it.
        head = {"who": "head", "departmentId": owner_department_id}
    plan: list[dict[str, Any]]
    if kind is RequestKind.PURCHASE:
        plan = [head, {"who": "role", "role": Role.PROCUREMENT.value}]
    elif kind is RequestKind.REQUISITION:
        plan = [head]
    elif kind is RequestKind.BORROW:
        plan = [head, {"who": "head", "departmentId": owner_department_id}]
    elif kind is RequestKind.STOCKTAKE:
        # Correcting the records after a count: the counting department's head, then asset management.
        plan = [head, {"who": "role", "role": Role.ASSET_MANAGER.value}]
    else:  # scrapping: the head, the asset manager's appraisal, then company leadership
        plan = [head, {"who": "role", "role": Role.ASSET_MANAGER.value}, {"who": "role", "role": Role.EXECUTIVE.value}]
    return [{**step, "status": "PENDING"} for step in plan]


def current_step(request: ItemRequest) -> tuple[int, dict[str, Any]] | None:
    for i, step in enumerate(request.steps):
        if step["status"] == "PENDING":
            return i, step
    return None


async def org(rt: Runtime) -> approvers.Org:
    return await approvers.Org.load(rt.settings.approval_fallback_roles)


async def deciders(rt: Runtime, request: ItemRequest, chart: approvers.Org | None = None) -> approvers.Level | None:
    """Who may decide the request's current step now (README "Approvals"); None when nothing waits."""
    found = current_step(request) if request.status is RequestStatus.PENDING else None
    if found is None:
        return None
    return await (chart or await org(rt)).level(found[1], request.requester_id)


async def may_act(rt: Runtime, actor: Actor, request: ItemRequest, chart: approvers.Org | None = None) -> bool:
    level = await deciders(rt, request, chart)
    return level is not None and approvers.may_decide(actor, level, request.requester_id)


async def deciders_by_request(keys: list[tuple[int, tuple[str, ...]]]) -> list[approvers.Level | None]:
    """Batch (a DataLoader's): who decides each request's current step now; keys are
    (request id, the fallback roles). Two queries for the chart, one for the requests."""
    if not keys:
        return []
    rows = {r.id: r for r in await ItemRequest.filter(id__in=[k[0] for k in keys])}
    charts: dict[tuple[str, ...], approvers.Org] = {}
    out: list[approvers.Level | None] = []
    for request_id, roles in keys:
        request = rows.get(request_id)
        found = current_step(request) if request is not None and request.status is RequestStatus.PENDING else None
        if request is None or found is None:
            out.append(None)
            continue
        if roles not in charts:
            charts[roles] = await approvers.Org.load(roles)
        out.append(await charts[roles].level(found[1], request.requester_id))
    return out


def _history(request: ItemRequest, actor: Actor | None, action: str, comment: str = "") -> None:
    request.history = [
        *request.history,
        {
            "at": clock.now().isoformat(),
            "by": actor.person_id if actor else None,
            "name": actor.display_name if actor else "",
            "action": action,
            "comment": comment,
        },
    ]


async def tell_deciders(
    rt: Runtime, request: ItemRequest, conn: BaseDBAsyncClient, level: approvers.Level | None = None
) -> None:
    """approval.pending to whoever decides the request's current step now (nothing once it is
    decided for good), in the transaction that made the step current (README "Notifications")."""
    found = current_step(request) if request.status is RequestStatus.PENDING else None
    if found is None or not channels_of(rt):
        return
    level = level or await deciders(rt, request)
    if level is None:
        return
    people = await journeys.level_people(level, request.requester_id, conn)
    await journeys.approval_pending(rt, request, people, conn, found[0])


def announce(rt: Runtime, request: ItemRequest) -> None:
    step = current_step(request)
    rt.bus.send(RequestChanged(request_id=request.id, status=request.status.value, step=step[1] if step else None))


async def submit(
    rt: Runtime,
    actor: Actor,
    kind: RequestKind,
    item_id: int | None,
    quantity: int,
    details: dict[str, Any],
    owner_department_id: int | None = None,
) -> ItemRequest:
    if actor.department_id is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "requests are made for a department; you have none")
    if not 1 <= quantity <= 1_000_000:
        raise UserError(ErrorCode.INVALID, "between 1 and 1,000,000", "quantity")
    request = ItemRequest(
        kind=kind,
        requester_id=actor.person_id,
        department_id=actor.department_id,
        item_id=item_id,
        quantity=quantity,
        details=details,
        steps=await steps_for(kind, actor.department_id, owner_department_id),
    )
    _history(request, actor, "submitted")
    async with in_transaction() as conn:
        await request.save(using_db=conn)
        await tell_deciders(rt, request, conn)
    audit.note_change("item_request", request.id, None, {"kind": kind.value, "quantity": quantity})
    announce(rt, request)
    return request


async def get_request(request_id: str | int, field: str = "id") -> ItemRequest:
    request = await ItemRequest.get_or_none(id=parse_id(request_id, "request", field))
    if request is None:
        raise not_found("request", field)
    return request


async def decide(rt: Runtime, actor: Actor, request_id: str, approve: bool, comment: str | None) -> ItemRequest:
    request = await get_request(request_id)
    if request.status is not RequestStatus.PENDING:
        raise UserError(ErrorCode.NOT_ALLOWED, f"this request is {request.status.value}; nothing to decide")
    if actor.person_id == request.requester_id:
        raise Forbidden("nobody approves their own request")
    level = await deciders(rt, request)
    assert level is not None  # a PENDING request always has a pending step
    if not level.includes(actor):
        raise Forbidden(f"this step is not yours to decide; it waits for {level.label}")
    note = validation.name(comment, "comment", max_length=500) if comment and comment.strip() else ""
    if not approve and not note:
        raise UserError(ErrorCode.INVALID, "say why the request is rejected", "comment")
    return await _record_decision(rt, actor, request, approve, note, {"as": level.label})


async def override(rt: Runtime, actor: Actor, request_id: str, approve: bool, reason: str) -> ItemRequest:
    """An ADMIN decides the current step in its approver's place, saying why: the step, the
    request's history and the audit log all name the override and its reason."""
    if Role.ADMIN not in actor.roles:
        raise Forbidden("only an ADMIN overrides an approval step")
    why = validation.name(reason, "reason", max_length=500)
    request = await get_request(request_id)
    if request.status is not RequestStatus.PENDING:
        raise UserError(ErrorCode.NOT_ALLOWED, f"this request is {request.status.value}; nothing to decide")
    if actor.person_id == request.requester_id:
        raise Forbidden("nobody approves their own request, not even by override")
    level = await deciders(rt, request)
    assert level is not None
    extra = {"as": "ADMIN override", "override": True, "inPlaceOf": level.label}
    return await _record_decision(rt, actor, request, approve, why, extra, action="overridden")


async def _record_decision(
    rt: Runtime,
    actor: Actor,
    request: ItemRequest,
    approve: bool,
    note: str,
    extra: dict[str, Any],
    action: str = "",
) -> ItemRequest:
    found = current_step(request)
    assert found is not None
    index, _ = found
    steps = [dict(s) for s in request.steps]
    steps[index].update(
        status="APPROVED" if approve else "REJECTED", by=actor.person_id, at=clock.now().isoformat(), comment=note
    )
    steps[index].update(extra)
    request.steps = steps
    if not approve:
        request.status = RequestStatus.REJECTED
    elif current_step(request) is None:
        request.status = RequestStatus.APPROVED
    verdict = "approved" if approve else "rejected"
    _history(request, actor, f"{action} ({verdict})" if action else verdict, note)
    async with in_transaction() as conn:
        # Only the step seen above may change: two approvers at once cannot both decide it.
        updated = await ItemRequest.filter(id=request.id, updated_at=request.updated_at).update(
            steps=request.steps, status=request.status, history=request.history, updated_at=clock.now()
        )
        if not updated:
            raise UserError(ErrorCode.CONFLICT, "someone else decided this step just now; look again")
        if not approve:
            await _release_asset(request)
        elif request.status is RequestStatus.APPROVED and request.kind in WHEN_APPROVED:
            await WHEN_APPROVED[request.kind](request, actor.person_id)
        else:
            await tell_deciders(rt, request, conn)  # approved and moved on: the next step's turn
    audit.note_change(
        "item_request", request.id, {"step": index}, {"step": index, "approved": approve, **extra, "comment": note}
    )
    announce(rt, request)
    return await get_request(request.id)


async def resubmit(
    rt: Runtime, actor: Actor, request_id: str, quantity: int | None, details: dict[str, Any] | None
) -> ItemRequest:
    request = await get_request(request_id)
    if request.requester_id != actor.person_id:
        raise Forbidden("only the requester resubmits")
    if request.status is not RequestStatus.REJECTED:
        raise UserError(ErrorCode.NOT_ALLOWED, "only a rejected request is resubmitted")
    if quantity is not None:
        if not 1 <= quantity <= 1_000_000:
            raise UserError(ErrorCode.INVALID, "between 1 and 1,000,000", "quantity")
        request.quantity = quantity
    if details:
        request.details = {**request.details, **details}
    request.steps = [
        {k: v for k, v in s.items() if k in ("who", "role", "departmentId")} | {"status": "PENDING"}
        for s in request.steps
    ]
    request.status = RequestStatus.PENDING
    _history(request, actor, "resubmitted")
    async with in_transaction() as conn:
        if request.kind is RequestKind.SCRAP:
            # The rejection gave the asset back to stock; scrapping it again takes it out again.
            taken = await Asset.filter(id=request.details.get("assetId"), status=AssetStatus.IN_STOCK).update(
                status=AssetStatus.SCRAP_PENDING
            )
            if not taken:
                raise UserError(ErrorCode.NOT_ALLOWED, "the asset is no longer in stock; it cannot be scrapped now")
        claimed = await ItemRequest.filter(id=request.id, status=RequestStatus.REJECTED).update(
            status=RequestStatus.PENDING
        )
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this request changed just now; look again")
        await request.save()
        await tell_deciders(rt, request, conn)  # back at the first step
    announce(rt, request)
    return request


async def withdraw(rt: Runtime, actor: Actor, request_id: str) -> ItemRequest:
    """The requester takes back a request still pending or rejected: CANCELLED for good, and an
    asset put up for scrapping goes back to stock."""
    request = await get_request(request_id)
    if request.requester_id != actor.person_id:
        raise Forbidden("only the requester withdraws a request")
    if request.status not in (RequestStatus.PENDING, RequestStatus.REJECTED):
        raise UserError(ErrorCode.NOT_ALLOWED, f"this request is {request.status.value}; it cannot be withdrawn")
    was = request.status
    request.status = RequestStatus.CANCELLED
    _history(request, actor, "withdrawn")
    async with in_transaction():
        claimed = await ItemRequest.filter(id=request.id, status=was).update(status=RequestStatus.CANCELLED)
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this request changed just now; look again")
        if was is RequestStatus.PENDING:
            # (A rejected one gave its asset back already; it may be another request's by now.)
            await _release_asset(request)
        await request.save()
    audit.note_change("item_request", request.id, {"status": was.value}, {"status": "CANCELLED"})
    announce(rt, request)
    return request


async def _release_asset(request: ItemRequest) -> None:
    """A scrap request that ends without scrapping (rejected at any step, or withdrawn) returns its asset to stock."""
    if request.kind is RequestKind.SCRAP and request.details.get("assetId") is not None:
        await Asset.filter(id=request.details["assetId"], status=AssetStatus.SCRAP_PENDING).update(
            status=AssetStatus.IN_STOCK
        )


async def queue_page(rt: Runtime, actor: Actor, first: int, after_id: int | None) -> list[ItemRequest]:
    """Up to first + 1 requests whose current step the caller may decide now (as head, deputy,
    the level a step escalated to, a role or the fallback), oldest first, after `after_id`.
    Whose step it is follows from each request's JSON steps and the organisation chart, so
    pending requests are read in batches and sorted out here; the chart once per page."""
    chart = await org(rt)
    out: list[ItemRequest] = []
    batch = max(first + 1, 100)
    cursor = after_id or 0
    while len(out) <= first:
        rows = await ItemRequest.filter(status=RequestStatus.PENDING, id__gt=cursor).order_by("id").limit(batch)
        out += [r for r in rows if await may_act(rt, actor, r, chart)]
        if len(rows) < batch:
            break
        cursor = rows[-1].id
    return out[: first + 1]


# --- escalation ------------------------------------------------------------------------------


def waiting_since(request: ItemRequest, index: int) -> datetime | None:
    """When the step at `index` began to wait: its last escalation, the decision of the step
    before it, or the (re)submission."""
    step = request.steps[index]
    if step.get("escalatedAt"):
        return datetime.fromisoformat(step["escalatedAt"])
    if index > 0 and request.steps[index - 1].get("at"):
        return datetime.fromisoformat(request.steps[index - 1]["at"])
    for entry in reversed(request.history):
        if entry.get("action") in ("submitted", "resubmitted"):
            return datetime.fromisoformat(entry["at"])
    return None


async def escalate_due(rt: Runtime) -> int:
    """Steps waiting longer than GATEHOUSE_APPROVAL_ESCALATE_HOURS move one level up their
    chain (recorded in the step and the history, pushed to the new approvers). Claimed by a
    conditional update, so several workers escalate a step once."""
    now = clock.now()
    deadline = timedelta(hours=rt.settings.approval_escalate_hours)
    # A pending request's updated_at is no later than its current step's start: a cheap pre-filter.
    rows = await ItemRequest.filter(status=RequestStatus.PENDING, updated_at__lte=now - deadline).order_by("id")
    if not rows:
        return 0
    chart = await org(rt)
    moved = 0
    for request in rows:
        found = current_step(request)
        if found is None:
            continue
        index, step = found
        since = waiting_since(request, index)
        if since is None or now - since < deadline:
            continue
        up = await chart.next_level(step, request.requester_id)
        if up is None:
            continue  # already at the top: the fallback roles have it
        level_no, level = up
        steps = [dict(s) for s in request.steps]
        steps[index].update(level=level_no, escalatedAt=now.isoformat())
        request.steps = steps
        hours = int((now - since).total_seconds() // 3600)
        _history(request, None, "escalated", f"step {index + 1} waited {hours} h; now {level.label} decides")
        async with in_transaction() as conn:
            claimed = await ItemRequest.filter(id=request.id, updated_at=request.updated_at).update(
                steps=request.steps, history=request.history, updated_at=now
            )
            if claimed:  # the level the step moved to hears of it, once (the claim above)
                await tell_deciders(rt, request, conn, level)
        if claimed:
            announce(rt, request)
            moved += 1
    return moved


async def reannounce_pending(rt: Runtime) -> None:
    """The organisation changed (a head or deputy): every waiting step is pushed again, so the
    approvers it now belongs to see it live (each subscriber checks whether it is theirs)."""
    for request in await ItemRequest.filter(status=RequestStatus.PENDING).order_by("id"):
        announce(rt, request)


async def mark(
    request: ItemRequest, actor: Actor | None, action: str, status: RequestStatus | None = None, comment: str = ""
) -> None:
    if status is not None:
        request.status = status
    _history(request, actor, action, comment)
    await request.save()
