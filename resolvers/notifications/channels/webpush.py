"""Web Push (RFC 8030) to the phone app: one message to one browser subscription, encrypted to the
browser's keys (RFC 8291, aes128gcm) and signed with the server's VAPID key (RFC 8292).

The address is a push_subscription id (resolvers/notifications/push_subscriptions.py). pywebpush
encrypts and posts over aiohttp (its async variant), so a slow push service never blocks the event
loop; each send also has its own deadline. What the push service answers decides what happens:

- 201 (or 200/202): sent; the subscription's last_success_at is set.
- 404 / 410: the browser unsubscribed or the subscription expired: PermanentFailure, and the row is
  deleted (RFC 8030 §7.3), so it is not tried again for the next message.
- 429, 5xx, timeouts, connection errors: TemporaryFailure (retried with backoff by the sender).
- any other 4xx (a bad VAPID signature, a payload too large): PermanentFailure, row kept.

The payload the service worker (web/src/sw/sw.js) shows is JSON {title, body, link, kind, key,
alarm}; it is cut to fit the 4 KiB record a push service must accept (RFC 8291 §4).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPusher

from resolvers.core import clock
from resolvers.core.models import PushSubscription
from resolvers.core.settings_webpush import WebPushSettings
from resolvers.notifications import push_subscriptions
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

# RFC 8291 §4: push services must accept 4096 bytes of payload, which is the record: 86 bytes of
# header (salt, record size, key id), the 16-byte tag and the padding delimiter leave 3993 of text.
MAX_PLAINTEXT = 3993
TTL_SECONDS = 24 * 3600  # an alarm or a reminder a day late is noise
TTL_SUMMARY_SECONDS = 7 * 24 * 3600
SEND_SECONDS = 10.0
VAPID_HOURS = 12  # RFC 8292 §2: no more than 24 h


def topic(kind: str) -> str:
    """The Topic header (RFC 8030 §5.4): at most 32 base64url characters; a newer message of the same
    kind replaces one still waiting at the push service."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in kind)[:32]


def payload(message: Message) -> bytes:
    """The JSON the service worker shows, its body shortened to fit the push record."""
    body = message.text
    while True:
        data = {
            "title": message.subject,
            "body": body,
            "link": message.link,
            "kind": message.kind,
            "key": message.key,
            "alarm": message.alarm,
        }
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        if len(encoded) <= MAX_PLAINTEXT:
            return encoded
        over = len(encoded) - MAX_PLAINTEXT
        if not body:
            # Only a very long title can get here: shorten it instead.
            message = replace(message, subject=message.subject[: max(0, len(message.subject) - over)])
            continue
        # Characters, not bytes (a Chinese character is 3 bytes, more when escaped): cut at least enough.
        body = body[: max(0, len(body) - max(over // 3, 1) - 1)] + "…" if len(body) > 1 else ""


class WebPushChannel:
    name: ClassVar[str] = "webpush"

    def __init__(self, settings: WebPushSettings, send_seconds: float = SEND_SECONDS) -> None:
        self._vapid = Vapid02(settings.private_key)
        self._subject = settings.subject
        self._send_seconds = send_seconds
        self._session: aiohttp.ClientSession | None = None

    async def addresses_for(self, person_id: int) -> list[str]:
        return await push_subscriptions.ids_of(person_id)

    def targets_for(self, kind: str) -> list[str]:
        return []

    def _headers(self, endpoint: str, message: Message) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "sub": self._subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_HOURS * 3600,
        }
        headers: dict[str, str] = dict(self._vapid.sign(claims))
        headers["Urgency"] = "high" if message.alarm else "normal"
        headers["Topic"] = topic(message.kind)
        return headers

    async def send(self, message: Message, address: str) -> str | None:
        row = await PushSubscription.get_or_none(id=int(address)) if address.isdigit() else None
        if row is None:
            raise PermanentFailure("the push subscription no longer exists")
        info: dict[str, Any] = {"endpoint": row.endpoint, "keys": {"p256dh": row.p256dh, "auth": row.auth}}
        ttl = TTL_SUMMARY_SECONDS if message.kind.startswith("summary.") else TTL_SECONDS
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        pusher = WebPusher(info, aiohttp_session=self._session)
        try:
            async with asyncio.timeout(self._send_seconds):
                response = await pusher.send_async(
                    payload(message),
                    self._headers(row.endpoint, message),
                    ttl=ttl,
                    content_encoding="aes128gcm",
                    timeout=aiohttp.ClientTimeout(total=self._send_seconds),
                )
        except TimeoutError:
            raise TemporaryFailure(f"the push service did not answer within {self._send_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise TemporaryFailure(f"the push service cannot be reached: {exc.__class__.__name__}") from None
        assert isinstance(response, aiohttp.ClientResponse)
        status = response.status
        if status in (200, 201, 202):
            await PushSubscription.filter(id=row.id).update(last_success_at=clock.now())
            return response.headers.get("Location")
        if status in (404, 410):
            await PushSubscription.filter(id=row.id).delete()
            raise PermanentFailure(f"the push service answered {status}: the subscription is gone (removed)")
        if status == 429 or status >= 500:
            raise TemporaryFailure(f"the push service answered {status}")
        raise PermanentFailure(f"the push service refused the message: {status}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def build(rt: Runtime) -> WebPushChannel | None:
    settings = rt.settings.webpush
    return WebPushChannel(settings) if settings is not None else None
