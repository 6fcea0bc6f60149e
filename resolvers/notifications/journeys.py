"""The notifications the domains' own changes send (README "Notifications", who gets what):
each function is called inside the transaction of the change that causes it and passes that
transaction to `notify`, so the rows commit or roll back with the change.

The callers decide *who* (a visit's host, the level that decides a step, a loan's borrower) and
*when* (the transition, once: their conditional updates claim it); this module only turns the
change into the kind's context. Visitors' typed text (names, reasons) goes in as plain context:
each channel escapes it for its own format. Nothing here queries when no channel is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core.models import Asset, Item, ItemRequest, Person, Visit
from resolvers.core.models.people import REPORT_READERS
from resolvers.notifications.channels.base import Attachment
from resolvers.notifications.channels.registry import channels_of
from resolvers.notifications.outbox import notify
from resolvers.notifications.recipients import active_with_roles

if TYPE_CHECKING:
    from resolvers.people.approvers import Level
    from resolvers.runtime import Runtime

# A summary's PDF rides in the email up to this size; past it the email links to the download.
ATTACH_AT_MOST = 2 * 1024 * 1024
FMT = "%Y-%m-%d %H:%M"


def _at(rt: Runtime, moment: datetime) -> str:
    return moment.astimezone(rt.settings.tz).strftime(FMT)


async def level_people(level: Level, requester_id: int | None, conn: BaseDBAsyncClient | None) -> list[int]:
    """The people a decision level names: its named heads/deputies, or the active holders of its
    roles, never the requester (nobody decides their own request)."""
    people = set(level.people) | set(await active_with_roles(level.roles, conn) if level.roles else [])
    if requester_id is not None:
        people.discard(requester_id)
    return sorted(people)


# --- visits ----------------------------------------------------------------------------------


async def _to_host(rt: Runtime, kind: str, visit: Visit, conn: BaseDBAsyncClient) -> None:
    if not channels_of(rt):
        return
    await notify(
        rt,
        kind,
        recipients=[visit.host_id],
        context={"visitor": visit.visitor_name, "start": _at(rt, visit.expected_start)},
        cause=f"visit:{visit.id}",
        connection=conn,
    )


async def visit_awaiting_approval(rt: Runtime, visit: Visit, conn: BaseDBAsyncClient) -> None:
    """The visitor registered: the host approves (or not) their visit."""
    await _to_host(rt, "visit.awaiting_approval", visit, conn)


async def visit_reminder(rt: Runtime, visit: Visit, conn: BaseDBAsyncClient) -> None:
    """The visit starts within the hour and still waits for the host's approval."""
    await _to_host(rt, "visit.reminder", visit, conn)


async def visit_arrival(rt: Runtime, visit: Visit, at: datetime, conn: BaseDBAsyncClient) -> None:
    """The visitor was checked in at the gate (the visit's arrival: once per visit)."""
    if not channels_of(rt):
        return
    await notify(
        rt,
        "visit.arrival",
        recipients=[visit.host_id],
        context={"visitor": visit.visitor_name, "at": _at(rt, at)},
        cause=f"visit:{visit.id}",
        connection=conn,
    )


async def visit_emergency(
    rt: Runtime, visit: Visit, deciders: list[int], conn: BaseDBAsyncClient, escalated: bool = False
) -> None:
    """An emergency walk-in waits at the gate for `deciders` (filed, or escalated to them)."""
    if not channels_of(rt) or not deciders:
        return
    host = await Person.get_or_none(id=visit.host_id, using_db=conn)
    await notify(
        rt,
        "visit.emergency",
        recipients=deciders,
        context={
            "visitor": visit.visitor_name,
            "host": host.display_name if host else "-",
            "reason": visit.emergency_reason or visit.purpose,
        },
        cause=f"visit:{visit.id}",
        connection=conn,
        robots=not escalated,  # the group saw the walk-in once; an escalation is for the new level
    )


# --- items -----------------------------------------------------------------------------------


async def approval_pending(
    rt: Runtime, request: ItemRequest, deciders: list[int], conn: BaseDBAsyncClient, step: int
) -> None:
    """The request's current step waits for `deciders` (submitted, the step before decided, or escalated)."""
    if not channels_of(rt) or not deciders:
        return
    requester = await Person.get_or_none(id=request.requester_id, using_db=conn)
    item = await Item.get_or_none(id=request.item_id, using_db=conn) if request.item_id else None
    who = requester.display_name if requester else "-"
    thing = item.name if item else str(request.details.get("name") or request.kind.value.lower())
    await notify(
        rt,
        "approval.pending",
        recipients=deciders,
        context={
            "what": f"#{request.id} {request.kind.value} {thing} ×{request.quantity} — {who} (step {step + 1})",
        },
        cause=f"request:{request.id}",
        connection=conn,
    )


async def loan_overdue(rt: Runtime, asset: Asset, conn: BaseDBAsyncClient) -> None:
    """A lent asset was not back by its due date: its borrower hears once per loan."""
    if not channels_of(rt) or asset.holder_person_id is None:
        return
    item = await Item.get_or_none(id=asset.item_id, using_db=conn)
    name = f"{item.name if item else '-'} #{asset.id}" + (f" ({asset.serial})" if asset.serial else "")
    await notify(
        rt,
        "loan.overdue",
        recipients=[asset.holder_person_id],
        context={"item": name, "due": _at(rt, asset.due_back) if asset.due_back else "-"},
        cause=f"asset:{asset.id}",
        connection=conn,
    )


# --- summaries -------------------------------------------------------------------------------


async def summary(
    rt: Runtime,
    kind: str,
    summary_id: int,
    context: dict[str, str],
    pdf: bytes | None,
    filename: str,
    download_path: str,
    conn: BaseDBAsyncClient,
) -> None:
    """A scheduled summary was produced: its readers (and the robots taking summary.*) get its
    figures, with the PDF attached when it is small, else linked to its download route."""
    if not channels_of(rt):
        return
    public_url = rt.settings.notify.public_url
    link = f"{public_url}{download_path}" if public_url else None
    attach = pdf is not None and len(pdf) <= ATTACH_AT_MOST
    await notify(
        rt,
        kind,
        recipients=await active_with_roles(REPORT_READERS, conn),
        context=context,
        cause=f"summary:{summary_id}",
        connection=conn,
        link=link,
        attachments=(Attachment(filename, "application/pdf", pdf),) if attach and pdf is not None else (),
    )
