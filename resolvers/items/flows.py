"""The item workflows after approval (POLICY 4.2-4.5), each step scanned and recorded.

Purchase: the warehouse receives against the request and the delivery note (partial
receipts and discrepancies recorded), labels are made, stock goes in. Requisition: stock
is checked and taken atomically (never negative), labels scanned, hand-over recorded.
Borrowing: items lent with a due date, returned with an inspection. Scrapping: the asset
is disposed of by sale, recycling or donation, and can never be issued, lent or carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from realtime.messages import LoanReminder
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import (
    Asset,
    AssetStatus,
    Department,
    Item,
    ItemCategory,
    ItemMovement,
    ItemRequest,
    RequestKind,
    RequestStatus,
)
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.notifications import journeys
from resolvers.people import audit
from resolvers.runtime import Runtime

DISPOSALS = ("SALE", "RECYCLING", "DONATION")


def _approved(request: ItemRequest, kind: RequestKind) -> None:
    if request.kind is not kind:
        raise UserError(ErrorCode.INVALID, f"this is a {request.kind.value} request", "requestId")
    if request.status is not RequestStatus.APPROVED:
        raise UserError(
            ErrorCode.NOT_ALLOWED,
            f"this request is {request.status.value}; every approval step comes first",
            "requestId",
        )


# --- requests ----------------------------------------------------------------------------------


async def request_purchase(
    rt: Runtime,
    actor: Actor,
    name: str,
    spec: str,
    quantity: int,
    budget: float,
    needed_by: datetime | None,
    item_id: str | None,
    category: ItemCategory | None = None,
    serialized: bool | None = None,
) -> ItemRequest:
    """`category` and `serialized` say what something new becomes (labelled assets or counted
    stock): decided with the purchase, approved with it, and not by whichever delivery comes first."""
    details: dict[str, Any] = {
        "name": validation.name(name, "name"),
        "spec": (spec or "").strip()[:200],
        "budget": budget,
        "neededBy": needed_by.isoformat() if needed_by else None,
        "receipts": [],
    }
    if budget < 0:
        raise UserError(ErrorCode.INVALID, "a budget is not negative", "budget")
    item = await items.get_item(item_id) if item_id is not None else None
    if item is not None:
        if serialized is not None and serialized != item.serialized:
            raise UserError(ErrorCode.INVALID, f"{item.name} is {_kind_of(item.serialized)} already", "serialized")
        if category is not None and category is not item.category:
            raise UserError(ErrorCode.INVALID, f"{item.name} is {item.category.value} already", "category")
    else:
        if category is not None:
            details["category"] = category.value
        if serialized is not None:
            details["serialized"] = serialized
    return await approvals.submit(rt, actor, RequestKind.PURCHASE, item.id if item else None, quantity, details)


def _kind_of(serialized: bool) -> str:
    return "labelled assets" if serialized else "counted stock"


async def request_requisition(
    rt: Runtime, actor: Actor, item_id: str, quantity: int, purpose: str, needed_by: datetime | None
) -> ItemRequest:
    item = await items.get_item(item_id)
    details = {
        "purpose": validation.name(purpose, "purpose", max_length=500),
        "neededBy": needed_by.isoformat() if needed_by else None,
    }
    return await approvals.submit(rt, actor, RequestKind.REQUISITION, item.id, quantity, details)


async def request_borrow(
    rt: Runtime, actor: Actor, item_id: str, quantity: int, owner_department_id: str, due_back: datetime, purpose: str
) -> ItemRequest:
    item = await items.get_item(item_id)
    if not item.serialized:
        raise UserError(ErrorCode.INVALID, "only labelled assets are lent", "itemId")
    owner = await Department.get_or_none(id=parse_id(owner_department_id, "department", "ownerDepartmentId"))
    if owner is None:
        raise not_found("department", "ownerDepartmentId")
    if owner.id == actor.department_id:
        raise UserError(ErrorCode.INVALID, "borrowing is from another department", "ownerDepartmentId")
    if due_back <= clock.now():
        raise UserError(ErrorCode.INVALID, "the return date has passed", "dueBack")
    details = {
        "ownerDepartmentId": owner.id,
        "dueBack": due_back.isoformat(),
        "purpose": validation.name(purpose, "purpose", max_length=500),
        "lent": [],
        "returned": [],
    }
    return await approvals.submit(rt, actor, RequestKind.BORROW, item.id, quantity, details, owner.id)


async def request_scrap(rt: Runtime, actor: Actor, label_code: str, reason: str) -> ItemRequest:
    asset = await items.asset_by_label(rt, label_code)
    if not items.usable(asset):
        raise UserError(ErrorCode.NOT_ALLOWED, "this asset is already being scrapped", "labelCode")
    if asset.status is not AssetStatus.IN_STOCK:
        raise UserError(ErrorCode.NOT_ALLOWED, "bring the asset back to stock before scrapping it", "labelCode")
    details = {
        "assetId": asset.id,
        "reason": validation.name(reason, "reason", max_length=500),
        "purchasedAt": asset.purchased_at.isoformat() if asset.purchased_at else None,
    }
    # Anyone may report an asset for scrapping; the first say is its own department's head (the
    # department that owns it, else the holder's, else the catalogue item's), not the reporter's.
    item = await items.get_item(asset.item_id)
    belongs_to = asset.owner_department_id or asset.holder_department_id or item.department_id
    async with in_transaction():
        taken = await Asset.filter(id=asset.id, status=AssetStatus.IN_STOCK).update(status=AssetStatus.SCRAP_PENDING)
        if not taken:
            raise UserError(ErrorCode.CONFLICT, "this asset was just taken out of stock", "labelCode")
        request = await approvals.submit(rt, actor, RequestKind.SCRAP, asset.item_id, 1, details, belongs_to)
    return request


# --- warehouse steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    quantity: int
    location_id: str
    delivery_note: str
    spec_ok: bool
    quality_ok: bool
    notes: str | None
    category: ItemCategory | None
    serialized: bool


async def receive(rt: Runtime, actor: Actor, request_id: str, receipt: Receipt) -> tuple[ItemRequest, list[str]]:
    """Goods arrive against a purchase: checked, then labelled (assets) or counted (stock) in."""
    request = await approvals.get_request(request_id, "requestId")
    _approved(request, RequestKind.PURCHASE)
    location = await items.get_location(receipt.location_id)
    note = validation.name(receipt.delivery_note, "deliveryNote", max_length=100)
    remaining = request.quantity - request.fulfilled_quantity
    if not 1 <= receipt.quantity:
        raise UserError(ErrorCode.INVALID, "at least one", "quantity")
    problems = []
    if receipt.quantity > remaining:
        problems.append(f"delivered {receipt.quantity}, only {remaining} outstanding")
    if not receipt.spec_ok:
        problems.append("spec does not match the request")
    if not receipt.quality_ok:
        problems.append("quality not acceptable")
    accepted = 0 if (not receipt.spec_ok or not receipt.quality_ok) else min(receipt.quantity, remaining)
    codes: list[str] = []
    async with in_transaction():
        # Claim this receipt's share against what was read: two receipts at once cannot both count
        # the same outstanding quantity.
        claimed = await ItemRequest.filter(
            id=request.id, status=RequestStatus.APPROVED, fulfilled_quantity=request.fulfilled_quantity
        ).update(fulfilled_quantity=request.fulfilled_quantity + accepted)
        if not claimed:
            raise UserError(
                ErrorCode.CONFLICT, "another receipt for this request was booked just now; look again", "requestId"
            )
        item: Item | None = None
        if request.item_id is not None:
            item = await items.get_item(request.item_id)
        elif accepted:
            # Something new enters the catalogue with the first goods accepted: a refused delivery
            # decides nothing. What it is comes from the purchase when it said (the approvers saw
            # that); only a purchase that did not say leaves it to this receipt.
            said = request.details
            category = said.get("category") or (receipt.category or ItemCategory.OTHER).value
            item = await Item.create(
                name=said["name"],
                spec=said.get("spec", ""),
                category=ItemCategory(category),
                serialized=said["serialized"] if "serialized" in said else receipt.serialized,
                department_id=request.department_id,
            )
            request.item_id = item.id
        if accepted and item is not None:
            if item.serialized:
                for _ in range(accepted):
                    asset = await Asset.create(
                        item_id=item.id,
                        location_id=location.id,
                        purchased_at=clock.now(),
                        owner_department_id=request.department_id,
                    )
                    codes.append(items.label_code(rt, "A", asset.id))
                    await items.move(
                        "RECEIVE",
                        item.id,
                        asset_id=asset.id,
                        location_id=location.id,
                        request_id=request.id,
                        by_id=actor.person_id,
                        notes=note,
                    )
            else:
                await items.add_stock(item.id, location.id, accepted)
                await items.move(
                    "RECEIVE",
                    item.id,
                    quantity=accepted,
                    location_id=location.id,
                    request_id=request.id,
                    by_id=actor.person_id,
                    notes=note,
                )
        request.fulfilled_quantity += accepted
        request.details = {
            **request.details,
            "receipts": [
                *request.details.get("receipts", []),
                {
                    "at": clock.now().isoformat(),
                    "deliveryNote": note,
                    "delivered": receipt.quantity,
                    "accepted": accepted,
                    "problems": problems,
                    "notes": (receipt.notes or "")[:500],
                },
            ],
        }
        done = request.fulfilled_quantity >= request.quantity
        await approvals.mark(
            request,
            actor,
            "received" if not problems else "received with discrepancies",
            RequestStatus.FULFILLED if done else None,
            "; ".join(problems),
        )
    return request, codes


async def issue(rt: Runtime, actor: Actor, request_id: str, location_id: str, label_codes: list[str]) -> ItemRequest:
    """Requisition: check stock, take it (scanning each asset's label), hand it over."""
    request = await approvals.get_request(request_id, "requestId")
    _approved(request, RequestKind.REQUISITION)
    assert request.item_id is not None
    item = await items.get_item(request.item_id)
    location = await items.get_location(location_id)
    async with in_transaction():
        # The request is issued once, however many warehouse clerks press the button at once.
        claimed = await ItemRequest.filter(id=request.id, status=RequestStatus.APPROVED).update(
            status=RequestStatus.FULFILLED
        )
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this requisition was just issued", "requestId")
        if item.serialized:
            assets = await _scanned_assets(rt, label_codes, item, request.quantity)
            for asset in assets:
                if asset.owner_department_id not in (None, request.department_id):
                    raise UserError(
                        ErrorCode.NOT_ALLOWED,
                        f"asset {asset.id} belongs to another department: borrow it",
                        "labelCodes",
                    )
                if asset.status is not AssetStatus.IN_STOCK:
                    raise UserError(
                        ErrorCode.NOT_ALLOWED, f"asset {asset.id} is {asset.status.value}, not in stock", "labelCodes"
                    )
            for asset in assets:
                taken = await Asset.filter(id=asset.id, status=AssetStatus.IN_STOCK).update(
                    status=AssetStatus.ISSUED,
                    holder_person_id=request.requester_id,
                    holder_department_id=request.department_id,
                    location_id=None,
                )
                if not taken:
                    raise UserError(
                        ErrorCode.CONFLICT, f"asset {asset.id} was just taken by another request", "labelCodes"
                    )
                await items.move(
                    "ISSUE",
                    item.id,
                    asset_id=asset.id,
                    person_id=request.requester_id,
                    department_id=request.department_id,
                    request_id=request.id,
                    by_id=actor.person_id,
                )
        else:
            if not await items.take_stock(item.id, location.id, request.quantity):
                raise UserError(ErrorCode.NOT_ALLOWED, f"not enough {item.name} at {location.name}", "quantity")
            await items.move(
                "ISSUE",
                item.id,
                quantity=request.quantity,
                location_id=location.id,
                person_id=request.requester_id,
                department_id=request.department_id,
                request_id=request.id,
                by_id=actor.person_id,
            )
        request.fulfilled_quantity = request.quantity
        await approvals.mark(request, actor, "issued and handed over", RequestStatus.FULFILLED)
    audit.note_change("item_request", request.id, None, {"issued": request.quantity})
    return request


async def _scanned_assets(rt: Runtime, codes: list[str], item: Item, quantity: int) -> list[Asset]:
    if len(set(codes)) != quantity:
        raise UserError(ErrorCode.INVALID, f"scan {quantity} different labels", "labelCodes")
    assets = [await items.asset_by_label(rt, code, "labelCodes") for code in codes]
    for asset in assets:
        if asset.item_id != item.id:
            raise UserError(ErrorCode.MISMATCH, f"asset {asset.id} is not a {item.name}", "labelCodes")
        if not items.usable(asset):
            raise UserError(ErrorCode.NOT_ALLOWED, f"asset {asset.id} is scrapped", "labelCodes")
    return assets


async def lend(rt: Runtime, actor: Actor, request_id: str, label_codes: list[str]) -> ItemRequest:
    request = await approvals.get_request(request_id, "requestId")
    _approved(request, RequestKind.BORROW)
    assert request.item_id is not None
    item = await items.get_item(request.item_id)
    owner = request.details["ownerDepartmentId"]
    due = datetime.fromisoformat(request.details["dueBack"])
    async with in_transaction():
        # Lent once: the quantity is claimed, so a second lendItems on the request is refused.
        claimed = await ItemRequest.filter(id=request.id, status=RequestStatus.APPROVED, fulfilled_quantity=0).update(
            fulfilled_quantity=request.quantity
        )
        if not claimed:
            raise UserError(ErrorCode.NOT_ALLOWED, "this borrowing has already been lent", "requestId")
        assets = await _scanned_assets(rt, label_codes, item, request.quantity)
        for asset in assets:
            if asset.owner_department_id not in (owner, None) or asset.status is not AssetStatus.IN_STOCK:
                raise UserError(
                    ErrorCode.NOT_ALLOWED, f"asset {asset.id} is not the lending department's, in stock", "labelCodes"
                )
            lent = await Asset.filter(id=asset.id, status=AssetStatus.IN_STOCK).update(
                status=AssetStatus.LENT,
                holder_person_id=request.requester_id,
                holder_department_id=request.department_id,
                due_back=due,
            )
            if not lent:
                raise UserError(ErrorCode.CONFLICT, f"asset {asset.id} was just taken", "labelCodes")
            await items.move(
                "LEND",
                item.id,
                asset_id=asset.id,
                person_id=request.requester_id,
                department_id=request.department_id,
                request_id=request.id,
                by_id=actor.person_id,
            )
        request.fulfilled_quantity = request.quantity
        request.details = {**request.details, "lent": [a.id for a in assets]}
        await approvals.mark(request, actor, f"lent until {due.date()}")
    return request


async def return_lent(
    rt: Runtime, actor: Actor, label_code: str, condition: str, notes: str | None, location_id: str
) -> Asset:
    """A lent asset comes back: inspected (fine or damaged), scanned, cleared."""
    if condition not in ("FINE", "DAMAGED"):
        raise UserError(ErrorCode.INVALID, "condition is FINE or DAMAGED", "condition")
    asset = await items.asset_by_label(rt, label_code)
    location = await items.get_location(location_id)
    if asset.status is not AssetStatus.LENT:
        raise UserError(ErrorCode.NOT_ALLOWED, "this asset is not lent", "labelCode")
    request = await ItemRequest.filter(kind=RequestKind.BORROW, status=RequestStatus.APPROVED).all()
    owning = next((r for r in request if asset.id in r.details.get("lent", [])), None)
    async with in_transaction():
        await Asset.filter(id=asset.id).update(
            status=AssetStatus.IN_STOCK,
            holder_person_id=None,
            holder_department_id=None,
            due_back=None,
            location_id=location.id,
        )
        await items.move(
            "RETURN",
            asset.item_id,
            asset_id=asset.id,
            location_id=location.id,
            request_id=owning.id if owning else None,
            by_id=actor.person_id,
            notes=f"{condition}: {(notes or '').strip()}"[:500],
        )
        if owning is not None:
            returned = [*owning.details.get("returned", []), asset.id]
            owning.details = {**owning.details, "returned": returned}
            cleared = set(returned) >= set(owning.details.get("lent", []))
            await approvals.mark(
                owning,
                actor,
                f"returned asset {asset.id} {condition.lower()}",
                RequestStatus.FULFILLED if cleared else None,
            )
    return await Asset.get(id=asset.id)


async def dispose(
    rt: Runtime, actor: Actor, request_id: str, label_code: str, method: str, notes: str | None
) -> ItemRequest:
    if method not in DISPOSALS:
        raise UserError(ErrorCode.INVALID, "disposal is SALE, RECYCLING or DONATION", "method")
    request = await approvals.get_request(request_id, "requestId")
    _approved(request, RequestKind.SCRAP)
    asset = await items.asset_by_label(rt, label_code)
    if asset.id != request.details.get("assetId"):
        raise UserError(ErrorCode.MISMATCH, "this label is not the asset the request scraps", "labelCode")
    async with in_transaction():
        claimed = await ItemRequest.filter(id=request.id, status=RequestStatus.APPROVED).update(
            status=RequestStatus.FULFILLED
        )
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this asset was just disposed of", "requestId")
        await Asset.filter(id=asset.id).update(status=AssetStatus.DISPOSED, location_id=None)
        await items.move(
            "DISPOSE",
            asset.item_id,
            asset_id=asset.id,
            request_id=request.id,
            by_id=actor.person_id,
            notes=f"{method}: {(notes or '').strip()}"[:500],
        )
        await approvals.mark(request, actor, f"disposed by {method.lower()}", RequestStatus.FULFILLED)
    # A gate device scrapped as an asset is retired: refused on connect from now on.
    from resolvers.devices.fleet import retire_scrapped

    await retire_scrapped(rt, asset.id)
    return request


REMIND_EVERY = timedelta(hours=24)


async def remind_overdue(rt: Runtime) -> int:
    """Borrowers of overdue assets hear of it once a day (a movement records each reminder) on the
    live channel; the loan.overdue notification goes once per loan, with the loan's first reminder
    (the first OVERDUE_REMINDER movement after the asset's latest LEND), in the same transaction."""
    sent = 0
    now = clock.now()
    for asset in await overdue_loans():
        last = await ItemMovement.filter(asset_id=asset.id, kind="OVERDUE_REMINDER").order_by("-id").first()
        if last is not None and now - last.at < REMIND_EVERY:
            continue
        lent = await ItemMovement.filter(asset_id=asset.id, kind="LEND").order_by("-id").first()
        first_of_loan = last is None or (lent is not None and last.id < lent.id)
        async with in_transaction() as conn:
            await items.move(
                "OVERDUE_REMINDER",
                asset.item_id,
                asset_id=asset.id,
                person_id=asset.holder_person_id,
                department_id=asset.holder_department_id,
                notes=f"due back {asset.due_back.isoformat() if asset.due_back else ''}",
            )
            if first_of_loan:
                await journeys.loan_overdue(rt, asset, conn)
        rt.bus.send(LoanReminder(person_id=asset.holder_person_id, asset_id=asset.id, due_back=asset.due_back))
        sent += 1
    return sent


async def overdue_loans() -> list[Asset]:
    return await Asset.filter(status=AssetStatus.LENT, due_back__lt=clock.now()).order_by("due_back")
