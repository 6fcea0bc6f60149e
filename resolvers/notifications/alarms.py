"""Security alarms (alarm.*, and the overstay alert): every device alert of a kind in
kinds.ALERT_KINDS notifies the guards and security admins, and the robot targets that take it,
in the alert's own transaction. Alarms ignore quiet hours (outbox.notify, kinds.Kind.alarm).
An overstay also goes to the visit's host (named in the alert's payload), with the visitor's name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core import clock
from resolvers.core.models import Person, Role, Visit
from resolvers.notifications.channels.registry import channels_of
from resolvers.notifications.kinds import ALERT_KINDS
from resolvers.notifications.outbox import notify
from resolvers.notifications.recipients import active_with_roles

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

SECURITY_ROLES = frozenset({Role.GUARD, Role.SECURITY_ADMIN})


async def on_alert(
    rt: Runtime,
    alert_kind: str,
    alert_id: int,
    message: str,
    conn: BaseDBAsyncClient,
    payload: dict[str, Any] | None = None,
) -> None:
    kind = ALERT_KINDS.get(alert_kind)
    if kind is None or not channels_of(rt):
        return
    tz = rt.settings.tz
    at = clock.now().astimezone(tz).strftime("%Y-%m-%d %H:%M")
    recipients = await active_with_roles(SECURITY_ROLES, conn)
    context = {"message": message, "at": at, "visitor": message}
    visit_id = (payload or {}).get("visitId")
    if kind == "visit.overstay" and visit_id is not None:
        visit = await Visit.get_or_none(id=visit_id, using_db=conn)
        if visit is not None:
            host = await Person.get_or_none(id=visit.host_id, using_db=conn)
            context |= {
                "visitor": visit.visitor_name,
                "end": visit.expected_end.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "host": host.display_name if host else "-",
            }
            if visit.host_id not in recipients:
                recipients.append(visit.host_id)  # the host hears of their own visitor too
    await notify(rt, kind, recipients=recipients, context=context, cause=f"alert:{alert_id}", connection=conn)
