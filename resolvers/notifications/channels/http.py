"""What the HTTP channels (webhook.py, sms.py) share: one client per channel, bounded, with no
redirects followed, and one reading of how a peer answered.

A redirect is not followed: the request may carry a secret (a robot's key in its URL, a
gateway's token) that must not be replayed to wherever a 30x points. Error texts name the target,
never its URL, since they are shown to admins and the URL itself is a credential."""

from __future__ import annotations

import asyncio

import httpx

from resolvers.notifications.channels.base import PermanentFailure, TemporaryFailure

USER_AGENT = "Gatehouse-Notifications/1"


def make_client(timeout: float, max_connections: int = 8) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections // 2 or 1),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


async def request(
    client: httpx.AsyncClient,
    what: str,
    method: str,
    url: str,
    *,
    content: bytes | None,
    headers: dict[str, str],
    seconds: float,
) -> httpx.Response:
    """Send one request within `seconds` in all; a 2xx answer is returned, anything else raised as
    a DeliveryError: unreachable, slow, 429 and 5xx are temporary, other answers permanent."""
    try:
        async with asyncio.timeout(seconds):
            response = await client.request(method, url, content=content, headers=headers)
    except (TimeoutError, httpx.TimeoutException):
        raise TemporaryFailure(f"{what}: no answer within {seconds:g} s") from None
    except httpx.TransportError as exc:
        raise TemporaryFailure(f"{what}: unreachable ({type(exc).__name__}: {short(str(exc))})") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    detail = f"{what}: HTTP {status} {short(response.text)}".rstrip()
    if status == 429 or status >= 500:
        raise TemporaryFailure(detail)
    if 300 <= status < 400:
        raise PermanentFailure(f"{what}: HTTP {status}, a redirect (not followed: fix the URL)")
    raise PermanentFailure(detail)


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
