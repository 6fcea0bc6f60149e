"""Items (POLICY 4, 7.2): loans not returned by their date. (Stock differences from the last
stocktake are the stocktakes' own source.)"""

from __future__ import annotations

from resolvers.core.models import Asset, AssetStatus, Item
from resolvers.runtime import Runtime
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source


@source("loans_overdue", "items", "Loans overdue")
async def loans_overdue(rt: Runtime, period: Period) -> list[Proposal]:
    """An asset still lent whose due-back date had passed by the period's end (or now): the
    assets items.flows.remind_overdue reminds borrowers of. The borrower's department answers
    (the one the borrowing was made for, else the person's own). A later loan of the same asset
    has another date, hence another key."""
    at = common.judged_at(period)
    assets = await Asset.filter(status=AssetStatus.LENT, due_back__lt=at).order_by("due_back", "id")
    if not assets:
        return []
    items = dict(await Item.filter(id__in={a.item_id for a in assets}).values_list("id", "name"))
    names = await common.people(a.holder_person_id for a in assets)
    out = []
    for a in assets:
        assert a.due_back is not None
        holder, dept = names.get(a.holder_person_id or 0, ("nobody on record", None))
        label = items.get(a.item_id, f"item #{a.item_id}") + (f" {a.serial}" if a.serial else "")
        out.append(
            Proposal(
                source="loans_overdue",
                area="items",
                key=f"loans_overdue:{a.id}:{a.due_back.isoformat()}",
                summary=f"{label} lent to {holder} was due back on {common.local_day(rt, a.due_back)}",
                department_id=a.holder_department_id or dept,
                subject_type="asset",
                subject_id=str(a.id),
                evidence={
                    "assetId": a.id,
                    "itemId": a.item_id,
                    "holderPersonId": a.holder_person_id,
                    "dueBack": a.due_back.isoformat(),
                    "daysOverdue": (at - a.due_back).days,
                },
            )
        )
    return out
