"""What admins see of the outbox: deliveries (never their payload or full address), channel
health, and a retry of a failed or suppressed delivery (only while its payload exists)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.core import clock
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import Notification
from resolvers.core.models.notifications import FAILED, PENDING, STATUSES, SUPPRESSED
from resolvers.notifications import outbox
from resolvers.notifications.channels import email as email_channel
from resolvers.notifications.channels.base import ChannelHealth
from resolvers.notifications.sender import channel_health

if TYPE_CHECKING:
    from resolvers.runtime import Runtime


async def deliveries(
    status: str | None, kind: str | None, channel: str | None, first: int, before_id: int | None
) -> list[Notification]:
    query = Notification.all()
    if status is not None:
        if status not in STATUSES:
            raise UserError(ErrorCode.INVALID, f"status is one of {', '.join(STATUSES)}", "status")
        query = query.filter(status=status)
    if kind is not None:
        query = query.filter(kind=kind)
    if channel is not None:
        query = query.filter(channel=channel)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


def masked_address(rt: Runtime, row: Notification) -> str:
    from resolvers.core.crypto import mask

    address = rt.sealer.open_text(row.address_enc, outbox.ADDRESS)
    if "@" in address:
        return email_channel.masked(address)
    return mask(address, head=3, tail=2) if len(address) > 6 else address


async def channels(rt: Runtime) -> list[ChannelHealth]:
    return await channel_health(rt)


async def retry(row_id: str) -> Notification:
    nid = parse_id(row_id, "notification", "id")
    row = await Notification.get_or_none(id=nid)
    if row is None:
        raise not_found("notification", "id")
    if row.status not in (FAILED, SUPPRESSED):
        raise UserError(ErrorCode.NOT_ALLOWED, f"a {row.status} notification is not retried", "id")
    if row.payload_enc is None:
        raise UserError(
            ErrorCode.NOT_ALLOWED, "its message was cleared (kept only for a few days); it cannot be sent again", "id"
        )
    await Notification.filter(id=nid, status=row.status).update(
        status=PENDING, attempts=0, next_attempt_at=clock.now(), last_error=""
    )
    outbox.wake()
    await row.refresh_from_db()
    return row
