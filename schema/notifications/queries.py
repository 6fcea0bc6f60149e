"""Root query fields: notification settings (anyone signed in) and deliveries (site admins)."""

from __future__ import annotations

import strawberry

from resolvers.core.models import Notification
from resolvers.notifications import admin, mine
from schema.core.context import Info, actor_of
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import IsAuthenticated, IsSiteAdmin
from schema.notifications.types import (
    DELIVERY_CURSOR_KIND,
    NotificationChannel,
    NotificationDelivery,
    NotificationSettings,
)


def delivery_of(info: Info, row: Notification) -> NotificationDelivery:
    return NotificationDelivery(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        channel=row.channel,
        status=row.status,
        address_masked=admin.masked_address(info.context.rt, row),
        attempts=row.attempts,
        last_error=row.last_error,
        cause=row.cause,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
    )


@strawberry.type
class NotificationQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller's notification settings.")
    async def my_notification_settings(self, info: Info) -> NotificationSettings:
        return NotificationSettings.of(await mine.read(info.context.rt, actor_of(info).person_id))

    @strawberry.field(
        permission_classes=[IsSiteAdmin],
        description="The outbox, newest first (ADMIN, SECURITY_ADMIN): what was sent, failed or suppressed.",
    )
    async def notification_deliveries(
        self,
        info: Info,
        status: str | None = None,
        kind: str | None = None,
        channel: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[NotificationDelivery]:
        first = check_first(first)
        before = decode_cursor(DELIVERY_CURSOR_KIND, after)
        rows, errors = await attempt(admin.deliveries(status, kind, channel, first, before))
        if rows is None:
            from schema.core.errors import bad_input

            raise bad_input(errors[0].message)
        return page_of(rows, first, DELIVERY_CURSOR_KIND, lambda r: delivery_of(info, r), after=after)

    @strawberry.field(
        permission_classes=[IsSiteAdmin], description="Each configured channel's health (ADMIN, SECURITY_ADMIN)."
    )
    async def notification_channels(self, info: Info) -> list[NotificationChannel]:
        return [NotificationChannel.of(h) for h in await admin.channels(info.context.rt)]
