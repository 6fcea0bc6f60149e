"""The outbox: `notify(...)` writes what must be sent, in the caller's transaction; the sender
(resolvers/notifications/sender.py) sends it later, from the leading worker only.

Why an outbox: a notification written in the same transaction as the change that caused it exists
exactly when the change does (no invitation email for a rolled-back booking, none lost when the
server dies after the commit), and nothing a request or a gate waits for talks to an SMTP server.

How a domain sends a notification (the kinds are in kinds.py)::

    from resolvers.notifications.outbox import Recipient, notify

    async with in_transaction() as conn:
        ...  # the change
        await notify(
            rt,
            "visit.arrival",
            recipients=[visit.host_id],          # person ids, or Recipient(email=..., phone=...)
            context={"visitor": name, "at": "09:30"},   # the kind's text placeholders
            cause=f"visit:{visit.id}",
            connection=conn,
        )

Each person gets the kind on their chosen channels (preferences.py; the kind's defaults), at
their addresses on each channel (`Channel.addresses_for`), rendered in their language; robot
targets that take the kind (`Channel.targets_for`) get one row each. Quiet hours delay non-alarms;
limits (limits.py) store over-limit rows as `suppressed`. Nothing is sent inline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core import clock
from resolvers.core.models import Notification, Person
from resolvers.core.models.notifications import PENDING, SUPPRESSED
from resolvers.notifications import kinds, limits, preferences
from resolvers.notifications.channels.base import Attachment, Message
from resolvers.notifications.channels.registry import channels_of

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

PAYLOAD = "notification.payload"
ADDRESS = "notification.address"


@dataclass(frozen=True)
class Recipient:
    """Someone without an account (a visitor): addresses given directly, per channel."""

    email: str | None = None
    phone: str | None = None
    language: str = "zh-CN"


_wakers: list[asyncio.Event] = []


def wake() -> None:
    """Tell this process's sender that rows were written (it also polls, for other workers' rows)."""
    for event in _wakers:
        event.set()


def seal_message(rt: Runtime, message: Message) -> bytes:
    data = asdict(message)
    for name in ("attachments", "images"):
        data[name] = [
            {"filename": a.filename, "content_type": a.content_type, "data": base64.b64encode(a.data).decode()}
            for a in getattr(message, name)
        ]
    data["facts"] = [list(f) for f in message.facts]
    return rt.sealer.seal(json.dumps(data, ensure_ascii=False), PAYLOAD)


def open_message(rt: Runtime, sealed: bytes) -> Message:
    data = json.loads(rt.sealer.open_text(sealed, PAYLOAD))
    for name in ("attachments", "images"):
        data[name] = tuple(
            Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"])) for a in data[name]
        )
    data["facts"] = tuple(tuple(f) for f in data["facts"])
    return Message(**data)


async def notify(
    rt: Runtime,
    kind: str,
    *,
    recipients: Sequence[int | Recipient] = (),
    context: dict[str, str] | None = None,
    cause: str = "",
    connection: BaseDBAsyncClient | None = None,
    host_id: int | None = None,
    link: str | None = None,
    images: tuple[Attachment, ...] = (),
    attachments: tuple[Attachment, ...] = (),
    robots: bool = True,
) -> list[Notification]:
    """Write `kind` for each recipient (and robot target) into the outbox; returns the rows.

    `connection`: the caller's transaction (`async with in_transaction() as conn`), so the rows
    commit or roll back with the change. `host_id`: the person whose action caused it (limited per
    host). `link`: an absolute URL (kinds' texts may name it as {link}).
    """
    spec = kinds.KINDS[kind]  # a KeyError for an unknown kind: a bug, not a runtime condition
    channels = channels_of(rt)
    if not channels:
        return []
    now = clock.now()
    settings = rt.settings.notify
    ctx = dict(context or {})
    if link is not None:
        ctx.setdefault("link", link)
    rows: list[Notification] = []

    async def add(
        channel: str, address: str, person_id: int | None, locale: str, quiet: tuple[str | None, ...]
    ) -> None:
        subject, text = kinds.render(kind, locale, ctx)
        key = f"{kind}.{secrets.token_hex(12)}"
        message = Message(
            kind=kind,
            key=key,
            subject=subject,
            text=text,
            locale=kinds.language(locale),
            link=link,
            alarm=spec.alarm,
            attachments=attachments,
            images=images,
        )
        address_hash = rt.sealer.lookup_hash(f"{channel}:{address}", ADDRESS)
        reason = await limits.over_limit(settings, now, address_hash, host_id, connection)
        due = now
        if not spec.alarm and len(quiet) == 2:
            due = preferences.quiet_until(now, quiet[0], quiet[1], rt.settings.tz) or now
        rows.append(
            await Notification.create(
                key=key,
                kind=kind,
                channel=channel,
                person_id=person_id,
                host_id=host_id,
                address_enc=rt.sealer.seal(address, ADDRESS),
                address_hash=address_hash,
                payload_enc=seal_message(rt, message),  # a suppressed one too: an admin may release it
                status=SUPPRESSED if reason else PENDING,
                next_attempt_at=due,
                last_error=reason or "",
                created_at=now,
                cause=cause[:64],
                using_db=connection,
            )
        )

    for recipient in recipients:
        if isinstance(recipient, Recipient):
            if recipient.email and "email" in channels:
                await add("email", recipient.email, None, recipient.language, ())
            if recipient.phone and "sms" in channels:
                await add("sms", recipient.phone, None, recipient.language, ())
            continue
        person = await Person.get_or_none(id=recipient, using_db=connection)
        if person is None:
            continue
        quiet = (person.quiet_hours_start, person.quiet_hours_end)
        for name in await preferences.channels_for(person.id, kind, set(channels), connection):
            for address in await channels[name].addresses_for(person.id):
                await add(name, address, person.id, person.notify_language, quiet)
    if robots:
        for name, channel in channels.items():
            for target in channel.targets_for(kind):
                await add(name, target, None, "zh-CN", ())
    if rows:
        asyncio.get_running_loop().call_later(0.05, wake)  # after the caller's commit, usually
    return rows
