"""The invitation to the visitor (kind visit.invitation): the registration link and its QR, by
email (when given and the email channel exists) and SMS (when the sms channel exists).

The invite code is stored only hashed on the visit; the sealed outbox payload is the one other
place it exists, until the message is sent (then the payload is cleared).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from urllib.parse import quote

import segno
from tortoise.backends.base.client import BaseDBAsyncClient

from resolvers.core.actor import Actor
from resolvers.core.models import Person, Visit
from resolvers.notifications.channels.base import Attachment
from resolvers.notifications.outbox import Recipient, notify

if TYPE_CHECKING:
    from resolvers.runtime import Runtime


def invite_link(public_url: str, code: str) -> str:
    return f"{public_url}/invite/{quote(code, safe='')}"


def qr_png(link: str) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m", boost_error=False).save(out, kind="png", scale=6, border=4)
    return out.getvalue()


async def enqueue(
    rt: Runtime,
    visit: Visit,
    code: str,
    visitor_name: str,
    email: str | None,
    phone: str | None,
    actor: Actor,
    zone_names: list[str],
    conn: BaseDBAsyncClient,
) -> None:
    public_url = rt.settings.notify.public_url
    if public_url is None or (email is None and phone is None):
        return
    host = await Person.get(id=actor.person_id, using_db=conn)
    link = invite_link(public_url, code)
    tz = rt.settings.tz
    fmt = "%Y-%m-%d %H:%M"
    context = {
        "visitor": visitor_name,
        "host": host.display_name,
        "start": visit.expected_start.astimezone(tz).strftime(fmt),
        "end": visit.expected_end.astimezone(tz).strftime(fmt),
        "site": "、".join(zone_names) or "-",
        "code": code,
    }
    await notify(
        rt,
        "visit.invitation",
        recipients=[Recipient(email=email, phone=phone)],
        context=context,
        cause=f"visit:{visit.id}",
        connection=conn,
        host_id=actor.person_id,
        link=link,
        images=(Attachment("invitation-qr.png", "image/png", qr_png(link)),),
        robots=False,
    )
