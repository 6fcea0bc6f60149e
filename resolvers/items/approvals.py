"""One approval engine for every item workflow (POLICY 4.2-4.5): steps by role or by a
department's head, approve / reject with a comment, resubmission, full history, and each
approver's queue (by query, and live on the `approvals` channel)."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from realtime.messages import RequestChanged
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import Asset, AssetStatus, Department, ItemRequest, RequestKind, RequestStatus, Role
from resolvers.people import audit
from resolvers.runtime import Runtime


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
    else:  # scrapping: the head, the asset manager's appraisal, then company leadership
        plan = [head, {"who": "role", "role": Role.ASSET_MANAGER.value}, {"who": "role", "role": Role.EXECUTIVE.value}]
    return [{**step, "status": "PENDING"} for step in plan]


def current_step(request: ItemRequest) -> tuple[int, dict[str, Any]] | None:
    for i, step in enumerate(request.steps):
        if step["status"] == "PENDING":
            return i, step
    return None


def step_is_for(actor: Actor, step: dict[str, Any], headed: set[int]) -> bool:
    """A step names a role, or the head of a department (`headed`: the departments the actor heads)."""
    if step["who"] == "role":
        return Role(step["role"]) in actor.roles
    return step.get("departmentId") in headed


async def headed_by(actor: Actor) -> set[int]:
    return {d["id"] for d in await Department.filter(head_id=actor.person_id).values("id")}


async def may_act(actor: Actor, step: dict[str, Any]) -> bool:
    return step_is_for(actor, step, set() if step["who"] == "role" else await headed_by(actor))


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
    await request.save()
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
    found = current_step(request)
    assert found is not None  # a PENDING request always has a pending step
    index, step = found
    if not await may_act(actor, step):
        raise Forbidden("this step is not yours to decide")
    if actor.person_id == request.requester_id:
        raise Forbidden("nobody approves their own request")
    note = validation.name(comment, "comment", max_length=500) if comment and comment.strip() else ""
    if not approve and not note:
        raise UserError(ErrorCode.INVALID, "say why the request is rejected", "comment")
    steps = [dict(s) for s in request.steps]
    steps[index].update(
        status="APPROVED" if approve else "REJECTED", by=actor.person_id, at=clock.now().isoformat(), comment=note
    )
    request.steps = steps
    if not approve:
        request.status = RequestStatus.REJECTED
    elif current_step(request) is None:
        request.status = RequestStatus.APPROVED
    _history(request, actor, "approved" if approve else "rejected", note)
    async with in_transaction():
        # Only the step seen above may change: two approvers at once cannot both decide it.
        updated = await ItemRequest.filter(id=request.id, updated_at=request.updated_at).update(
            steps=request.steps, status=request.status, history=request.history, updated_at=clock.now()
        )
        if not updated:
            raise UserError(ErrorCode.CONFLICT, "someone else decided this step just now; look again")
        if not approve:
            await _release_asset(request)
    audit.note_change("item_request", request.id, {"step": index}, {"step": index, "approved": approve})
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
    async with in_transaction():
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


async def queue_page(actor: Actor, first: int, after_id: int | None) -> list[ItemRequest]:
    """Up to first + 1 requests whose current step is the caller's to decide, oldest first,
    after the request `after_id`. Whose step it is lives in each request's JSON steps, so
    pending requests are read in batches and sorted out here; the caller's departments once."""
    headed = await headed_by(actor)

    def mine(request: ItemRequest) -> bool:
        found = current_step(request)
        return found is not None and request.requester_id != actor.person_id and step_is_for(actor, found[1], headed)

    out: list[ItemRequest] = []
    batch = max(first + 1, 100)
    cursor = after_id or 0
    while len(out) <= first:
        rows = await ItemRequest.filter(status=RequestStatus.PENDING, id__gt=cursor).order_by("id").limit(batch)
        out += [r for r in rows if mine(r)]
        if len(rows) < batch:
            break
        cursor = rows[-1].id
    return out[: first + 1]


async def mark(
    request: ItemRequest, actor: Actor | None, action: str, status: RequestStatus | None = None, comment: str = ""
) -> None:
    if status is not None:
        request.status = status
    _history(request, actor, action, comment)
    await request.save()
