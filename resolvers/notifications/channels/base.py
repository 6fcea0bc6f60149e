"""What every channel takes and how it fails: the outbox's sender knows channels only by this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Message:
    """One rendered notification, in the recipient's language; every text field is plain text.

    Visitors type some of these texts: each channel escapes them for its own format (mail headers,
    robot markdown, JSON) and never lets them add lines to a header.
    """

    kind: str  # e.g. "visit.invitation", "alarm.door_forced" (resolvers/notifications/kinds.py)
    key: str  # idempotency key, unique per (notification, channel, address): the same key is never two messages
    subject: str  # one line
    text: str  # the body, lines separated by "\n"
    locale: str = "zh-CN"  # "zh-CN" or "en"
    link: str | None = None  # an absolute URL into the phone app or console
    alarm: bool = False  # security alarms: sent in quiet hours, shown loudly where the channel can
    facts: tuple[tuple[str, str], ...] = ()  # (label, value) pairs for card formats
    attachments: tuple[Attachment, ...] = ()
    images: tuple[Attachment, ...] = ()  # shown inline where the channel can (the invitation's QR)


class DeliveryError(Exception):
    """A send that did not go through; `retryable` says whether trying again later may help."""

    retryable: ClassVar[bool] = True


class TemporaryFailure(DeliveryError):
    """The peer is unreachable, slow, rate limiting or answered 5xx: retried with backoff."""


class PermanentFailure(DeliveryError):
    """The peer refused this message for good (bad address, 4xx, push subscription gone): not retried."""

    retryable = False


class Channel(Protocol):
    name: ClassVar[str]  # "email", "webpush", "webhook", "sms"

    async def addresses_for(self, person_id: int) -> list[str]:
        """This person's addresses on the channel ([] when they have none, or the channel has no personal ones)."""
        ...

    def targets_for(self, kind: str) -> list[str]:
        """Configured group targets (robots) that take this kind; [] for personal channels."""
        ...

    async def send(self, message: Message, address: str) -> str | None:
        """Deliver one message; returns the peer's id for it, if any; raises DeliveryError."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class ChannelHealth:
    """What admins and /readyz's detail see of a channel."""

    name: str
    configured: bool
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_error: str | None = None
    pending: int = 0
    failed: int = 0
    details: dict[str, str] = field(default_factory=dict)
