"""Root mutation fields: items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.core.models import ItemCategory
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.items import flows as item_flows
from resolvers.items import gate_checks as item_checks
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsAdmin,
    IsAuthenticated,
    IsCatalogueKeeper,
    IsEmployee,
    IsGateStaff,
    IsWarehouse,
)
from schema.items.inputs import DeclaredItemInput, ReceiptInput
from schema.items.types import (
    Asset,
    AssetPayload,
    Item,
    ItemCheckPayload,
    ItemPayload,
    ItemRequest,
    ItemRequestPayload,
    LocationPayload,
    StockLocation,
    _check,
    _request,
)


@strawberry.type
class ItemMutation:
    @strawberry.mutation(permission_classes=[IsCatalogueKeeper], description="Add an item to the catalogue.")
    async def create_item(
        self,
        name: str,
        category: ItemCategory,
        serialized: bool = False,
        spec: str | None = None,
        unit: str | None = None,
        department_id: strawberry.ID | None = None,
    ) -> ItemPayload:
        row, errors = await attempt(items.create_item(name, spec, category, serialized, unit, department_id))
        return ItemPayload(item=Item.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsCatalogueKeeper], description="Add a place where stock is kept.")
    async def create_stock_location(self, name: str, zone_id: strawberry.ID | None = None) -> LocationPayload:
        row, errors = await attempt(items.create_location(name, zone_id))
        return LocationPayload(location=StockLocation.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description='Ask to buy something: the department head (README "Approvals": or who stands in), '
        "then procurement, decide.",
    )
    async def request_purchase(
        self,
        info: Info,
        name: str,
        quantity: int,
        budget: float,
        spec: str = "",
        needed_by: datetime | None = None,
        item_id: strawberry.ID | None = None,
        category: Annotated[
            ItemCategory | None,
            strawberry.argument(description="For something new: the catalogue category it becomes."),
        ] = None,
        serialized: Annotated[
            bool | None,
            strawberry.argument(
                description="For something new: true, each unit becomes a labelled asset; false, counted stock. "
                "Decided here, with the purchase; a receipt's own `serialized` counts only when this is not given."
            ),
        ] = None,
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_purchase(
                info.context.rt, actor_of(info), name, spec, quantity, budget, needed_by, item_id, category, serialized
            )
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Ask for stock or an asset from the warehouse: the department head decides.",
    )
    async def request_requisition(
        self, info: Info, item_id: strawberry.ID, quantity: int, purpose: str, needed_by: datetime | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_requisition(info.context.rt, actor_of(info), item_id, quantity, purpose, needed_by)
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Borrow another department's asset until dueBack: both heads decide.",
    )
    async def request_borrow(
        self,
        info: Info,
        item_id: strawberry.ID,
        quantity: int,
        owner_department_id: strawberry.ID,
        due_back: datetime,
        purpose: str,
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.request_borrow(
                info.context.rt, actor_of(info), item_id, quantity, owner_department_id, due_back, purpose
            )
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Ask to scrap an asset: its department's head, the asset manager, then an executive decide.",
    )
    async def request_scrap(self, info: Info, label_code: str, reason: str) -> ItemRequestPayload:
        row, errors = await attempt(item_flows.request_scrap(info.context.rt, actor_of(info), label_code, reason))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee], description="Decide the current step if it is yours.")
    async def approve_item_request(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(approvals.decide(info.context.rt, actor_of(info), id, True, comment))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee], description="Turn down the current step if it is yours, saying why."
    )
    async def reject_item_request(self, info: Info, id: strawberry.ID, comment: str) -> ItemRequestPayload:
        row, errors = await attempt(approvals.decide(info.context.rt, actor_of(info), id, False, comment))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="ADMIN decides the current step in its approver's place (never on their own request); "
        "the reason is required and kept in the step, the history and the audit log.",
    )
    async def override_item_request(
        self, info: Info, id: strawberry.ID, approve: bool, reason: str
    ) -> ItemRequestPayload:
        row, errors = await attempt(approvals.override(info.context.rt, actor_of(info), id, approve, reason))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The requester sends a rejected request again (its steps start over).",
    )
    async def resubmit_item_request(
        self, info: Info, id: strawberry.ID, quantity: int | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(approvals.resubmit(info.context.rt, actor_of(info), id, quantity, None))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="The requester takes back a pending or rejected request (CANCELLED); "
        "an asset put up for scrapping returns to stock.",
    )
    async def withdraw_item_request(self, info: Info, id: strawberry.ID) -> ItemRequestPayload:
        row, errors = await attempt(approvals.withdraw(info.context.rt, actor_of(info), id))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsWarehouse],
        description="Goods arrive against an approved purchase (partial receipts allowed).",
    )
    async def receive_purchase(
        self, info: Info, request_id: strawberry.ID, receipt: ReceiptInput
    ) -> ItemRequestPayload:
        data = item_flows.Receipt(
            receipt.quantity,
            receipt.location_id,
            receipt.delivery_note,
            receipt.spec_ok,
            receipt.quality_ok,
            receipt.notes,
            receipt.category,
            receipt.serialized,
        )
        result, errors = await attempt(item_flows.receive(info.context.rt, actor_of(info), request_id, data))
        if result is None:
            return ItemRequestPayload(errors=errors)
        return ItemRequestPayload(request=ItemRequest.of(result[0]), label_codes=result[1])

    @strawberry.mutation(
        permission_classes=[IsWarehouse],
        description="Hand out an approved requisition from a location (assets by their scanned labels).",
    )
    async def issue_requisition(
        self, info: Info, request_id: strawberry.ID, location_id: strawberry.ID, label_codes: list[str] | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.issue(info.context.rt, actor_of(info), request_id, location_id, label_codes or [])
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsWarehouse],
        description="Hand out the assets of an approved borrowing (by their scanned labels).",
    )
    async def lend_items(self, info: Info, request_id: strawberry.ID, label_codes: list[str]) -> ItemRequestPayload:
        row, errors = await attempt(item_flows.lend(info.context.rt, actor_of(info), request_id, label_codes))
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsWarehouse], description="FINE or DAMAGED, after inspection.")
    async def return_lent_item(
        self, info: Info, label_code: str, condition: str, location_id: strawberry.ID, notes: str | None = None
    ) -> AssetPayload:
        row, errors = await attempt(
            item_flows.return_lent(info.context.rt, actor_of(info), label_code, condition, notes, location_id)
        )
        return AssetPayload(asset=Asset.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsCatalogueKeeper], description="SALE, RECYCLING or DONATION.")
    async def dispose_asset(
        self, info: Info, request_id: strawberry.ID, label_code: str, method: str, notes: str | None = None
    ) -> ItemRequestPayload:
        row, errors = await attempt(
            item_flows.dispose(info.context.rt, actor_of(info), request_id, label_code, method, notes)
        )
        return ItemRequestPayload(request=_request(row), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="What a person carries through a gate; a guard may declare for someone.",
    )
    async def declare_items(
        self,
        info: Info,
        gate_id: strawberry.ID,
        direction: str,
        items: list[DeclaredItemInput],
        person_id: strawberry.ID | None = None,
    ) -> ItemCheckPayload:
        lines = [{"description": i.description, "quantity": i.quantity, "labelCode": i.label_code} for i in items]
        row, errors = await attempt(
            item_checks.declare(info.context.rt, actor_of(info), person_id, gate_id, direction, lines)
        )
        return ItemCheckPayload(check=_check(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="Compare declared with scanned; clear or hold.")
    async def complete_item_check(self, info: Info, id: strawberry.ID) -> ItemCheckPayload:
        row, errors = await attempt(item_checks.complete(info.context.rt, actor_of(info), id))
        return ItemCheckPayload(check=_check(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff], description="A guard's call on a held item check.")
    async def decide_item_check(
        self, info: Info, id: strawberry.ID, allow: bool, note: str | None = None
    ) -> ItemCheckPayload:
        row, errors = await attempt(item_checks.decide(info.context.rt, actor_of(info), id, allow, note))
        return ItemCheckPayload(check=_check(row), errors=errors)
