"""How many messages one address and one host may cause per hour (GATEHOUSE_NOTIFY_PER_RECIPIENT_HOUR,
GATEHOUSE_NOTIFY_PER_HOST_HOUR).

Counted on the outbox itself (rows written in the last hour, suppressed ones excluded), inside the
caller's transaction, so every worker counts the same rows. Over a limit the row is still written,
as `suppressed` with the reason: an admin sees what was held back and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core.models import Notification
from resolvers.core.models.notifications import SUPPRESSED
from resolvers.core.settings_notify import NotifySettings

WINDOW = timedelta(hours=1)


async def over_limit(
    settings: NotifySettings,
    now: datetime,
    address_hash: str,
    host_id: int | None,
    conn: BaseDBAsyncClient | None,
) -> str | None:
    """The reason a new row to `address_hash` (caused by `host_id`) is over a limit, or None."""
    since = now - WINDOW
    recent = Notification.filter(created_at__gte=since).exclude(status=SUPPRESSED)
    if conn is not None:
        recent = recent.using_db(conn)
    if await recent.filter(address_hash=address_hash).count() >= settings.per_recipient_hour:
        return f"limit: more than {settings.per_recipient_hour} messages to this address per hour"
    if host_id is not None and await recent.filter(host_id=host_id).count() >= settings.per_host_hour:
        return f"limit: more than {settings.per_host_hour} messages caused by this host per hour"
    return None
