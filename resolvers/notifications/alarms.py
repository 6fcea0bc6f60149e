"""Security alarms (alarm.*, and the overstay alert): every device alert of a kind in
kinds.ALERT_KINDS notifies the guards and security admins, and the robot targets that take it,
in the alert's own transaction. Alarms ignore quiet hours (outbox.notify, kinds.Kind.alarm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core import clock
from resolvers.core.models import Person, PersonKind, PersonStatus, Role
from resolvers.notifications.channels.registry import channels_of
from resolvers.notifications.kinds import ALERT_KINDS
from resolvers.notifications.outbox import notify

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

SECURITY_ROLES = frozenset({Role.GUARD.value, Role.SECURITY_ADMIN.value})


async def security_people(conn: BaseDBAsyncClient | None = None) -> list[int]:
    people = (
        await Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE)
        .using_db(conn)
        .values_list("id", "roles")
    )
    return [int(pid) for pid, roles in people if SECURITY_ROLES & set(roles or [])]


async def on_alert(rt: Runtime, alert_kind: str, alert_id: int, message: str, conn: BaseDBAsyncClient) -> None:
    kind = ALERT_KINDS.get(alert_kind)
    if kind is None or not channels_of(rt):
        return
    at = clock.now().astimezone(rt.settings.tz).strftime("%Y-%m-%d %H:%M")
    await notify(
        rt,
        kind,
        recipients=await security_people(conn),
        context={"message": message, "at": at, "visitor": message},
        cause=f"alert:{alert_id}",
        connection=conn,
    )
