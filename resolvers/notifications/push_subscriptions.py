"""Web Push subscriptions (issue 16): the browsers a person turned notifications on in.

A subscription is what the browser's `pushManager.subscribe()` returned: the push service's URL for
that browser and the two keys messages are encrypted to (RFC 8291). Whoever holds them can write to
the phone, so the server takes them only from the signed-in person, keeps them per person, and
checks them before storing: the endpoint is an https URL of bounded length (the server will POST
to it), the keys decode to a P-256 point and a 16-byte secret (anything else could never be
encrypted to, and would fail every send).

One endpoint is one browser: registering it again (after a sign-in by someone else on the same
phone) moves it to the new person. A person keeps at most MAX_PER_PERSON browsers; a new one past
that drops the one registered longest ago (a phone replaced without turning notifications off
leaves its subscription behind, and the person cannot reach it to remove it).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import PushSubscription

MAX_PER_PERSON = 10
MAX_ENDPOINT = 1024
MAX_USER_AGENT = 256
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SubscriptionInput:
    endpoint: str
    p256dh: str
    auth: str
    user_agent: str | None = None


def _b64url(value: str, field: str, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 200 or not _BASE64URL.fullmatch(value):
        raise UserError(ErrorCode.INVALID, f"{what} must be base64url text", field)
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise UserError(ErrorCode.INVALID, f"{what} must be base64url text", field) from None
    if len(raw) != length:
        raise UserError(ErrorCode.INVALID, f"{what} must be {length} bytes, got {len(raw)}", field)
    return raw


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def endpoint_problem(endpoint: str) -> str | None:
    """Why this is not an endpoint the server may POST pushes to, or None."""
    if len(endpoint) > MAX_ENDPOINT:
        return f"the endpoint must be at most {MAX_ENDPOINT} characters"
    if not endpoint.isascii() or _CONTROL.search(endpoint) or " " in endpoint:
        return "the endpoint must be a plain URL"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        return "the endpoint is not a URL"
    if parts.scheme != "https":
        return "the endpoint must be an https:// URL"
    if not parts.hostname or parts.username is not None or parts.password is not None or parts.fragment:
        return "the endpoint must be an https:// URL with a host and no user or fragment"
    return None


def checked(data: SubscriptionInput) -> SubscriptionInput:
    problem = endpoint_problem(data.endpoint)
    if problem:
        raise UserError(ErrorCode.INVALID, problem, "endpoint")
    point = _b64url(data.p256dh, "p256dh", 65, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise UserError(ErrorCode.INVALID, "p256dh is not a P-256 public key", "p256dh") from None
    secret = _b64url(data.auth, "auth", 16, "auth")
    agent = data.user_agent
    if agent is not None:
        agent = _CONTROL.sub("", agent).strip()[:MAX_USER_AGENT] or None
    return SubscriptionInput(endpoint=data.endpoint, p256dh=_text(point), auth=_text(secret), user_agent=agent)


async def register(person_id: int, data: SubscriptionInput) -> PushSubscription:
    """Store (or move to this person, or refresh) the subscription; UserError when it is malformed."""
    good = checked(data)
    try:
        return await _store(person_id, good)
    except IntegrityError:
        # The same browser registered twice at once: the other insert won; this one updates it.
        return await _store(person_id, good)


async def _store(person_id: int, good: SubscriptionInput) -> PushSubscription:
    async with in_transaction() as conn:
        row = await PushSubscription.filter(endpoint=good.endpoint).using_db(conn).select_for_update().first()
        if row is None:
            row = await PushSubscription.create(
                person_id=person_id,
                endpoint=good.endpoint,
                p256dh=good.p256dh,
                auth=good.auth,
                user_agent=good.user_agent,
                created_at=clock.now(),
                using_db=conn,
            )
        else:
            row.person_id = person_id
            row.p256dh = good.p256dh
            row.auth = good.auth
            row.user_agent = good.user_agent
            row.created_at = clock.now()
            await row.save(using_db=conn)
        # Past the limit, the browsers registered longest ago go.
        extra = await (
            PushSubscription.filter(person_id=person_id)
            .using_db(conn)
            .order_by("-created_at", "-id")
            .offset(MAX_PER_PERSON)
            .values_list("id", flat=True)
        )
        if extra:
            await PushSubscription.filter(id__in=list(extra)).using_db(conn).delete()
    return row


async def remove(person_id: int, endpoint: str) -> bool:
    """Forget this person's subscription with that endpoint; False when they had none (not an error:
    the push service may have ended it first)."""
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
        return False
    return await PushSubscription.filter(person_id=person_id, endpoint=endpoint).delete() > 0


async def ids_of(person_id: int) -> list[str]:
    ids = await PushSubscription.filter(person_id=person_id).order_by("id").values_list("id", flat=True)
    return [str(i) for i in ids]
