"""Reading the alert log: newest first, as the supervision team pages through it."""

from __future__ import annotations

from datetime import datetime

from resolvers.core.models import DeviceAlert


async def recent(first: int) -> list[DeviceAlert]:
    """The newest `first` alerts (the guard app's plain list)."""
    return await DeviceAlert.all().order_by("-id").limit(first)


async def page(
    first: int, before_id: int | None, *, kind: str | None = None, since: datetime | None = None
) -> list[DeviceAlert]:
    """Up to first + 1 alerts older than `before_id`, of one kind and since an instant if given."""
    query = DeviceAlert.all()
    if kind:
        query = query.filter(kind=kind)
    if since is not None:
        query = query.filter(at__gte=since)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def after(after_id: int, first: int) -> list[DeviceAlert]:
    """Up to `first` alerts stored after `after_id`, oldest first: a resuming subscriber's replay."""
    return await DeviceAlert.filter(id__gt=after_id).order_by("id").limit(first)


async def more_after_than(after_id: int, limit: int) -> bool:
    """Whether more than `limit` alerts were stored after `after_id` (the replay's bound)."""
    return bool(
        await DeviceAlert.filter(id__gt=after_id).order_by("id").offset(limit).limit(1).values_list("id", flat=True)
    )


async def newest_id() -> int:
    """The newest stored alert's id, 0 when none: where a live-only subscriber starts."""
    newest = await DeviceAlert.all().order_by("-id").limit(1).values("id")
    return int(newest[0]["id"]) if newest else 0
