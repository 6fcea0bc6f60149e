"""Email over SMTP (aiosmtplib): GATEHOUSE_SMTP_HOST and the settings beside it, STARTTLS / implicit TLS / none.

The Message-ID is derived from the notification's key, so a message sent again after a crash
(at least once) carries the same id and the receiving side can drop the duplicate. Text with an
HTML alternative; inline images (the invitation's QR) as `cid:` parts. Headers are built by
`email.message.EmailMessage` under `policy.SMTP`, which refuses CR/LF in a header value; the
subject is flattened to one line first, so a visitor's name cannot add a header.
"""

from __future__ import annotations

import html
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, ClassVar

import aiosmtplib

from resolvers.core.models import Person
from resolvers.core.settings_notify import EmailSettings
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

EMAIL = "person.email"


def valid_address(value: str) -> str | None:
    """`value` as a plain mail address, or None when it is not one (or could smuggle a header)."""
    value = value.strip()
    if not value or len(value) > 254 or any(c in value for c in "\r\n<>,;\"' \t") or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in value:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    return value


def masked(address: str) -> str:
    """What people and admins are shown of an address: its first letter and its domain."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def build_email(message: Message, sender: str, to: str) -> EmailMessage:
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = " ".join(message.subject.split())
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.key}@{sender.rsplit('@', 1)[1]}>"
    mail["Content-Language"] = message.locale
    text = message.text
    mail.set_content(text)
    parts = [f"<p>{html.escape(line)}</p>" for line in text.split("\n")]
    if message.link:
        link = html.escape(message.link, quote=True)
        parts.append(f'<p><a href="{link}">{link}</a></p>')
    for i, image in enumerate(message.images):
        parts.append(f'<p><img src="cid:img{i}" alt="{html.escape(image.filename, quote=True)}"></p>')
    body = '<!doctype html><html lang="' + html.escape(message.locale) + '"><body>' + "".join(parts) + "</body></html>"
    mail.add_alternative(body, subtype="html")
    html_part = mail.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    for i, image in enumerate(message.images):
        maintype, _, subtype = image.content_type.partition("/")
        html_part.add_related(image.data, maintype=maintype, subtype=subtype, cid=f"<img{i}>", filename=image.filename)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail


class EmailChannel:
    name: ClassVar[str] = "email"

    def __init__(self, rt: Runtime, settings: EmailSettings) -> None:
        self._rt = rt
        self.settings = settings

    async def addresses_for(self, person_id: int) -> list[str]:
        person = await Person.get_or_none(id=person_id)
        if person is None or person.email_enc is None:
            return []
        return [self._rt.sealer.open_text(person.email_enc, EMAIL)]

    def targets_for(self, kind: str) -> list[str]:
        return []

    async def send(self, message: Message, address: str) -> str | None:
        to = valid_address(address)
        if to is None:
            raise PermanentFailure("not an email address")
        s = self.settings
        mail = build_email(message, s.sender, to)
        try:
            await aiosmtplib.send(
                mail,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                use_tls=s.tls == "tls",
                start_tls=True if s.tls == "starttls" else False,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentFailure(f"recipient refused ({codes[0]})") from None
            raise TemporaryFailure(f"recipient refused for now ({codes[0] if codes else '?'})") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and exc.code not in (530, 535):
                raise PermanentFailure(f"SMTP {exc.code}") from None
            raise TemporaryFailure(f"SMTP {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"SMTP unreachable ({type(exc).__name__})") from None
        return str(mail["Message-ID"])

    async def aclose(self) -> None:
        return None


def build(rt: Runtime) -> EmailChannel | None:
    settings = rt.settings.email
    return EmailChannel(rt, settings) if settings is not None else None
