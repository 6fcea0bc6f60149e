"""Printed temporary passes for visitors without a phone (POLICY 3.2.2).

A badge carries a static code `GHB1:<cid>:<mac>`: the credential id and a keyed MAC
only the server can make, so a badge cannot be forged; being static, it is good for
one entry into the site per check-in and dies at check-out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF
from gatehouse_gate import passtoken
from PIL import Image, ImageDraw
from tortoise.transactions import in_transaction

from resolvers.core import clock, fonts
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Credential, CredentialKind, CredentialStatus, Person, Visit, VisitStatus
from resolvers.runtime import Runtime
from resolvers.visits.visits import get_visit

PREFIX = "GHB1"


@dataclass(frozen=True, slots=True)
class BadgeCode:
    cid: str
    mac: str


def _mac(rt: Runtime, cid: str) -> str:
    digest = hmac.new(rt.keys.badge, f"{PREFIX}:{cid}".encode(), hashlib.sha256).digest()[:20]
    return base64.b32encode(digest).decode()


def parse(text: str) -> BadgeCode | None:
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 16 or len(parts[2]) != 32:
        return None
    if not all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in parts[1] + parts[2]):
        return None
    return BadgeCode(parts[1], parts[2])


def verify(rt: Runtime, code: BadgeCode) -> bool:
    return hmac.compare_digest(_mac(rt, code.cid).encode(), code.mac.encode())


@dataclass(frozen=True)
class Badge:
    code: str
    visitor_name: str
    host_name: str
    valid_from: datetime
    valid_until: datetime
    escorted: bool


async def issue(rt: Runtime, visit_id: str) -> Badge:
    """A badge for a checked-in visitor; it replaces any pass they held."""
    visit = await get_visit(visit_id)
    if visit.status is not VisitStatus.CHECKED_IN:
        raise UserError(ErrorCode.NOT_ALLOWED, "a badge is printed at check-in, for a checked-in visitor")
    assert visit.visitor_id is not None
    cid = passtoken.new_cid()
    async with in_transaction():
        await Credential.filter(person_id=visit.visitor_id, status=CredentialStatus.ACTIVE).update(
            status=CredentialStatus.SUPERSEDED, ended_at=clock.now()
        )
        await Credential.create(
            cid=cid,
            person_id=visit.visitor_id,
            kind=CredentialKind.BADGE,
            public_key=b"",
            period=0,
            device_name="printed badge",
        )
    return await _badge(visit, f"{PREFIX}:{cid}:{_mac(rt, cid)}")


async def current(rt: Runtime, visit_id: str) -> Badge:
    """The badge last issued for this visit, while it is still valid."""
    visit = await get_visit(str(visit_id))
    if visit.visitor_id is None:
        raise UserError(ErrorCode.NOT_FOUND, "no badge for this visit")
    credential = (
        await Credential.filter(person_id=visit.visitor_id, kind=CredentialKind.BADGE, status=CredentialStatus.ACTIVE)
        .order_by("-id")
        .first()
    )
    if credential is None:
        raise UserError(ErrorCode.NOT_FOUND, "no valid badge for this visit")
    return await _badge(visit, f"{PREFIX}:{credential.cid}:{_mac(rt, credential.cid)}")


async def _badge(visit: Visit, code: str) -> Badge:
    host = await Person.get(id=visit.host_id)
    return Badge(
        code=code,
        visitor_name=visit.visitor_name,
        host_name=host.display_name,
        valid_from=visit.expected_start,
        valid_until=visit.expected_end,
        escorted=visit.escorted,
    )


def _lines(badge: Badge, tz: ZoneInfo) -> list[str]:
    fmt = "%Y-%m-%d %H:%M"
    lines = [
        badge.visitor_name,
        f"Host: {badge.host_name}",
        f"Valid {badge.valid_from.astimezone(tz).strftime(fmt)} - {badge.valid_until.astimezone(tz).strftime(fmt)}",
    ]
    if badge.escorted:
        lines.append("ESCORTED AT ALL TIMES")
    return lines


def _qr(badge: Badge) -> segno.QRCode:
    return segno.make(badge.code, error="m", boost_error=False)


def render_png(badge: Badge, tz: ZoneInfo) -> bytes:
    qr_buf = io.BytesIO()
    _qr(badge).save(qr_buf, kind="png", scale=8, border=4)
    qr_img = Image.open(io.BytesIO(qr_buf.getvalue())).convert("RGB")
    width = max(600, qr_img.width + 80)
    height = qr_img.height + 320
    card = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(card)
    font = fonts.pil(28)
    small = fonts.pil(20)
    draw.rectangle([0, 0, width, 70], fill=(180, 30, 30))
    draw.text((24, 18), "VISITOR", fill="white", font=font)
    y = 90
    for i, line in enumerate(_lines(badge, tz)):
        fonts.warn_missing(line)
        face = font if i == 0 else small
        draw.text((24, y), fonts.fit(line, width - 48, face.getlength), fill="black", font=face)
        y += 40 if i == 0 else 30
    card.paste(qr_img, ((width - qr_img.width) // 2, y + 10))
    out = io.BytesIO()
    card.save(out, format="PNG")
    return out.getvalue()


def render_pdf(badge: Badge, tz: ZoneInfo) -> bytes:
    pdf = FPDF(unit="mm", format=(86, 130))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    family = fonts.pdf_font(pdf)
    pdf.set_fill_color(180, 30, 30)
    pdf.rect(0, 0, 86, 14, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(family, "", 16)
    pdf.set_xy(5, 3)
    pdf.cell(76, 8, "VISITOR")
    pdf.set_text_color(0, 0, 0)
    y = 18.0
    for i, line in enumerate(_lines(badge, tz)):
        pdf.set_font(family, "", 12 if i == 0 else 8)
        pdf.set_xy(5, y)
        pdf.cell(76, 6, fonts.fit(fonts.pdf_text(family, line), 76, pdf.get_string_width))
        y += 7 if i == 0 else 5
    qr_buf = io.BytesIO()
    _qr(badge).save(qr_buf, kind="png", scale=10, border=4)
    qr_buf.seek(0)
    pdf.image(qr_buf, x=13, y=y + 4, w=60, h=60)
    return bytes(pdf.output())
