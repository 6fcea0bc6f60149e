"""The sender: a loop in the leading worker that sends what the outbox holds.

A round claims due rows one by one with a conditional UPDATE (pending and due, or `sending` whose
lease ran out because the server sending it died) and sends them side by side, at most
GATEHOUSE_NOTIFY_CONCURRENCY per channel, each within GATEHOUSE_NOTIFY_SEND_SECONDS. Sent: the
payload is cleared. A temporary failure waits base·2^(attempt-1) with ±25 % jitter (at most an
hour); after GATEHOUSE_NOTIFY_MAX_ATTEMPTS attempts or GATEHOUSE_NOTIFY_MAX_AGE_HOURS it is
`failed` (error kept for admins; the message too, for a retry, until
GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS have passed). The claim before the send makes delivery at
least once; the key (the Message-ID) lets the receiver drop the copy a crash may cause.

Nothing on a gate's path awaits this: it runs in its own task and touches only its own table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.expressions import F, Q

from resolvers.core import clock
from resolvers.core.models import Notification
from resolvers.core.models.notifications import FAILED, PENDING, SENDING, SENT, SUPPRESSED
from resolvers.notifications import outbox
from resolvers.notifications.channels.base import ChannelHealth, DeliveryError, PermanentFailure
from resolvers.notifications.channels.registry import channels_of

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.notifications")
BATCH = 50
CLEAR_EVERY = timedelta(minutes=10)

# What this process saw of each channel (admins and /readyz read it with the outbox's counts).
health: dict[str, ChannelHealth] = {}


def backoff(attempt: int, base: float, cap: float = 3600.0, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1 = after the first failure): doubling, ±25 % jitter."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * (0.75 + 0.5 * (rng or random).random())


def _health(name: str) -> ChannelHealth:
    found = health.get(name)
    if found is None:
        found = health[name] = ChannelHealth(name=name, configured=True)
    return found


class Sender:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._cleared_at: datetime | None = None

    async def start(self) -> None:
        if self._task is None and channels_of(self.rt) and not self.rt.settings.notify.paused:
            outbox._wakers.append(self._wake)
            self._task = asyncio.create_task(self._loop(), name="notification-sender")

    async def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(ValueError):
                outbox._wakers.remove(self._wake)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        poll = self.rt.settings.notify.poll_seconds
        while True:
            self._wake.clear()
            try:
                sent = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification round failed; the next in %.0f s", poll)
                sent = 0
            if sent < BATCH:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll):
                        await self._wake.wait()

    async def _claim(self, row_id: int, now: datetime) -> bool:
        lease = now + timedelta(seconds=self.rt.settings.notify.lease_seconds)
        due = Q(status=PENDING, next_attempt_at__lte=now) | Q(status=SENDING, lease_until__lte=now)
        claimed = await Notification.filter(Q(id=row_id) & due).update(
            status=SENDING, lease_until=lease, attempts=F("attempts") + 1
        )
        return bool(claimed)

    async def round(self) -> int:
        """Claim and send what is due; the number of rows handled."""
        now = clock.now()
        if self._cleared_at is None or now - self._cleared_at >= CLEAR_EVERY:
            await clear_old_messages(self.rt, now)
            self._cleared_at = now
        due = Q(status=PENDING, next_attempt_at__lte=now) | Q(status=SENDING, lease_until__lte=now)
        ids = await Notification.filter(due).order_by("next_attempt_at", "id").limit(BATCH).values_list("id", flat=True)
        claimed = [int(i) for i in ids if await self._claim(int(i), now)]  # type: ignore[call-overload]
        await asyncio.gather(*(self._send(i) for i in claimed))
        return len(claimed)

    async def _send(self, row_id: int) -> None:
        rt = self.rt
        settings = rt.settings.notify
        row = await Notification.get(id=row_id)
        channel = channels_of(rt).get(row.channel)
        error: DeliveryError
        if channel is None:
            error = PermanentFailure(f"channel {row.channel} is not configured")
        elif row.payload_enc is None:
            error = PermanentFailure("nothing to send")
        else:
            limit = self._limits.setdefault(row.channel, asyncio.Semaphore(settings.concurrency))
            try:
                message = outbox.open_message(rt, row.payload_enc)
                address = rt.sealer.open_text(row.address_enc, outbox.ADDRESS)
                async with limit, asyncio.timeout(settings.send_seconds):  # the wait for a slot is not timed
                    provider_id = await channel.send(replace(message, key=row.key), address)
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = DeliveryError(f"no answer within {settings.send_seconds:g} s")
            except Exception as exc:  # a channel's bug must not stop the loop
                log.exception("sending notification %s failed", row_id)
                error = DeliveryError(f"unexpected {type(exc).__name__}")
            else:
                now = clock.now()
                await Notification.filter(id=row_id, status=SENDING).update(
                    status=SENT, sent_at=now, payload_enc=None, lease_until=None, provider_id=provider_id, last_error=""
                )
                _health(row.channel).last_success_at = now.isoformat()
                return
        now = clock.now()
        h = _health(row.channel)
        h.last_failure_at, h.last_error = now.isoformat(), str(error)[:200]
        too_old = now - row.created_at > timedelta(hours=settings.max_age_hours)
        if not error.retryable or row.attempts >= settings.max_attempts or too_old:
            # The message stays (sealed) for an admin's retry once the channel is fixed; clear_old_messages
            # removes it after GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS.
            await Notification.filter(id=row_id, status=SENDING).update(
                status=FAILED, lease_until=None, last_error=str(error)[:500]
            )
            log.warning("notification %s (%s, %s) failed: %s", row_id, row.kind, row.channel, error)
            return
        wait = backoff(row.attempts, settings.backoff_seconds, settings.backoff_max_seconds)
        await Notification.filter(id=row_id, status=SENDING).update(
            status=PENDING, next_attempt_at=now + timedelta(seconds=wait), lease_until=None, last_error=str(error)[:500]
        )


async def clear_old_messages(rt: Runtime, now: datetime) -> int:
    """Failed and held-back messages older than GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS lose their sealed
    text (an invitation's code, a visitor's name): the row stays, for the record."""
    before = now - timedelta(days=rt.settings.notify.keep_failed_days)
    return await Notification.filter(
        status__in=[FAILED, SUPPRESSED], payload_enc__not_isnull=True, created_at__lt=before
    ).update(payload_enc=None)


async def channel_health(rt: Runtime) -> list[ChannelHealth]:
    """Each configured channel: this process's last success/failure, and the outbox's counts."""
    out = []
    for name in channels_of(rt):
        seen = _health(name)
        pending = await Notification.filter(channel=name, status__in=[PENDING, SENDING]).count()
        failed = await Notification.filter(channel=name, status=FAILED).count()
        out.append(replace(seen, pending=pending, failed=failed))
    return out


def readiness_check(rt: Runtime) -> Callable[[], Awaitable[dict[str, object]]]:
    """/readyz detail: each channel's state. Never fails: an SMTP server that is down is not a
    reason to take this worker out of the load balancer (gates must keep working)."""

    async def check() -> dict[str, object]:
        return {
            h.name: {
                "pending": h.pending,
                "failed": h.failed,
                "lastError": h.last_error,
                "lastFailureAt": h.last_failure_at,
                "lastSuccessAt": h.last_success_at,
            }
            for h in await channel_health(rt)
        }

    return check
