"""Root mutation fields: the caller's notification settings; an admin's retry."""

from __future__ import annotations

import strawberry

from resolvers.notifications import admin, mine
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import IsAuthenticated, IsSiteAdmin
from schema.notifications.queries import delivery_of
from schema.notifications.types import (
    NotificationDeliveryPayload,
    NotificationSettings,
    NotificationSettingsInput,
    NotificationSettingsPayload,
)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change the caller's email, quiet hours, language and channels per kind.",
    )
    async def set_my_notification_settings(
        self, info: Info, input: NotificationSettingsInput
    ) -> NotificationSettingsPayload:
        quiet_given = input.quiet_hours_start is not strawberry.UNSET or input.quiet_hours_end is not strawberry.UNSET
        change = mine.Change(
            email=input.email if isinstance(input.email, str) else None,
            quiet_hours_start=input.quiet_hours_start or None,
            quiet_hours_end=input.quiet_hours_end or None,
            language=input.language if isinstance(input.language, str) else None,
            kinds={k.kind: list(k.channels) for k in input.kinds} if input.kinds else None,
            quiet_given=quiet_given,
        )
        result, errors = await attempt(mine.change(info.context.rt, actor_of(info).person_id, change))
        if result is None:
            return NotificationSettingsPayload(errors=errors)
        return NotificationSettingsPayload(settings=NotificationSettings.of(result))

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Send a suppressed notification again (ADMIN, SECURITY_ADMIN); a failed one's message is "
        "cleared when it is given up, so it is refused.",
    )
    async def retry_notification(self, info: Info, id: strawberry.ID) -> NotificationDeliveryPayload:
        row, errors = await attempt(admin.retry(str(id)))
        if row is None:
            return NotificationDeliveryPayload(errors=errors)
        return NotificationDeliveryPayload(delivery=delivery_of(info, row))
