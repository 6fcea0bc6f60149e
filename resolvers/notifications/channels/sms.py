"""SMS through the site's gateway, reached by an HTTP request the settings describe
(GATEHOUSE_SMS_URL and the rest, resolvers/core/settings_sms.py; README "SMS gateway").

Each placeholder of the body template ({phone} {text} {key} {subject} {token}) is escaped for
the body's content type as it is put in: inside a JSON string, or as one form-encoded value; so
a visitor's text cannot close its field and add another (say a second recipient). The text is
cut to MAX_CHARS: an SMS of that length is already eight segments. A 2xx answer means sent (and,
with GATEHOUSE_SMS_SENT_MATCH, one whose body matches it: some gateways answer 200 with an error
code); the key goes to the gateway as {key} where the template places it, for gateways that drop
repeats."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag

from resolvers.core.models import Person
from resolvers.core.settings_sms import SmsSettings, render
from resolvers.notifications.channels import http
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.notifications.sms")

MAX_CHARS = 500
MAX_ANSWER_CHARS = 64 * 1024  # of a gateway's answer searched for GATEHOUSE_SMS_SENT_MATCH
PHONE = "person.phone"  # the purpose Person.phone_enc is sealed under (resolvers/people/people.py)


def sms_text(message: Message) -> str:
    """Subject, body and link as one plain text of at most MAX_CHARS characters."""
    parts = [message.subject, message.text]
    if message.link and message.link not in message.text:
        parts.append(message.link)
    text = "\n".join(p.strip() for p in parts if p and p.strip())
    text = "".join(c for c in text if c == "\n" or (ord(c) >= 32 and ord(c) != 127))
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


class SmsChannel:
    name: ClassVar[str] = "sms"

    def __init__(self, settings: SmsSettings, rt: Runtime | None = None) -> None:
        self.settings = settings
        self._rt = rt
        self._client = http.make_client(settings.timeout_seconds)

    async def addresses_for(self, person_id: int) -> list[str]:
        rows = await Person.filter(id=person_id).values_list("phone_enc", flat=True)
        sealed = rows[0] if rows else None
        if not sealed or self._rt is None:
            return []
        try:
            phone = self._rt.sealer.open_text(bytes(sealed), PHONE)
        except (ValueError, InvalidTag):
            # Sealed under a key this process does not hold yet (a rotation elsewhere): look again once.
            if not await self._rt.refresh_keys():
                log.warning("the phone of person %s cannot be opened; no SMS for them", person_id)
                return []
            try:
                phone = self._rt.sealer.open_text(bytes(sealed), PHONE)
            except (ValueError, InvalidTag):
                log.warning("the phone of person %s cannot be opened; no SMS for them", person_id)
                return []
        phone = phone.strip()
        return [phone] if phone else []

    def targets_for(self, kind: str) -> list[str]:
        return []

    def request(self, message: Message, phone: str) -> tuple[str, bytes | None, dict[str, str]]:
        """The URL, body and headers of the gateway request for one message (no I/O)."""
        s = self.settings
        if not phone.strip() or any(ord(c) < 32 for c in phone):
            raise PermanentFailure("not a phone number")
        values = {
            "phone": phone.strip(),
            "text": sms_text(message),
            "key": message.key,
            "subject": " ".join(message.subject.split()),
            "token": s.token or "",
        }
        body = render(s.body, values, s.content_type)
        headers = {name: value.replace("{token}", s.token or "") for name, value in s.headers}
        if s.method == "GET":
            url = s.url + ("&" if urlsplit(s.url).query else "?") + body
            return url, None, headers
        content_type = "application/json" if s.content_type == "json" else "application/x-www-form-urlencoded"
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = f"{content_type}; charset=utf-8"
        return s.url, body.encode(), headers

    async def send(self, message: Message, address: str) -> str | None:
        url, body, headers = self.request(message, address)
        response = await http.request(
            self._client,
            "SMS gateway",
            self.settings.method,
            url,
            content=body,
            headers=headers,
            seconds=self.settings.timeout_seconds,
        )
        expected = self.settings.sent_match
        if expected is not None and not expected.search(response.text[:MAX_ANSWER_CHARS]):
            # Not sent, or not said so: tried again later (the {key} lets a gateway drop a repeat).
            raise TemporaryFailure(
                f"SMS gateway: HTTP {response.status_code} without GATEHOUSE_SMS_SENT_MATCH in its answer: "
                + http.short(response.text)
            )
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


def build(rt: Runtime) -> SmsChannel | None:
    settings = rt.settings.sms
    return SmsChannel(settings, rt) if settings is not None else None
