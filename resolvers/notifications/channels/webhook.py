"""Outgoing webhooks: group robots (WeCom, DingTalk, Feishu/Lark) and a generic signed JSON POST.

Targets come from GATEHOUSE_WEBHOOKS (resolvers/core/settings_webhooks.py); each takes the kinds
its settings name, so `targets_for(kind)` gives the outbox the robots a notification goes to and
`send(message, target_name)` posts it. One shared httpx client, bounded, redirects not followed
(channels/http.py).

Visitors type some of the texts (a name, a purpose). The robots render markdown with links,
`<@userid>` / `<at>` mentions and HTML-ish tags, and none documents a dependable escape, so
WeCom and DingTalk get every message text with the markup characters replaced by their
full-width forms (［ ］ ＜ ＞ ＊ ＠ ...) and "://" broken: it reads the same to a person and no
parser can see a link, a mention or a tag in it. Feishu gets a card whose texts are all
`plain_text` elements (never parsed); the one link is our own `message.link`, on a button.
Robot payloads never name anyone to mention (DingTalk's `at` is sent empty, isAtAll false).

The formats, as documented by each vendor:
- WeCom group robot: https://developer.work.weixin.qq.com/document/path/91770 (msgtype markdown,
  content ≤ 4096 bytes; answers {"errcode": 0}; 45009 = over the 20 messages a minute).
- DingTalk custom robot: https://open.dingtalk.com/document/orgapp/custom-robot-access and
  https://open.dingtalk.com/document/robots/customize-robot-security-settings ("加签": timestamp in
  ms, sign = urlencode(base64(HmacSHA256(key=secret, msg=timestamp + "\\n" + secret))) as query
  parameters; answers {"errcode": 0}; 130101 / 410100 = sending too fast).
- Feishu/Lark custom bot: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
  (msg_type interactive with a card; with signing on, "timestamp" in seconds and
  sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, msg="")) in the body; answers
  {"code": 0}; 11232 = frequency limited).
- generic: README "Webhooks and robots": the JSON below, `X-Gatehouse-Signature: t=<unix>,
  v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` and `X-Gatehouse-Delivery: <message.key>`
  (percent-encoded beyond printable ASCII; the body's "id"). The key is the idempotency key: a
  receiver drops a delivery it has seen, since a retry sends the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from resolvers.core import clock
from resolvers.core.settings_webhooks import WebhookSettings, WebhookTarget
from resolvers.notifications.channels import http
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 15000  # well under the robot's 20 KB body
FEISHU_MAX_BYTES = 15000  # the custom bot takes bodies up to 20 KB
# Error codes that mean "later": rate limits and "system busy".
_TEMPORARY_CODES = {
    "wecom": {-1, 45009, 45033},
    "dingtalk": {-1, 130101, 410100},
    "feishu": {11232},
}
_LINK_LABEL = {"zh-CN": "查看详情", "en": "Open"}

# Markup a robot's markdown would act on, as the full-width forms a reader sees the same.
_MARKUP = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "*": "＊",
        "_": "＿",
        "`": "｀",
        "~": "～",
        "\\": "＼",
        "|": "｜",
        "@": "＠",
        "&": "＆",
        "#": "＃",
    }
)


def plain(text: str) -> str:
    """Control characters out (a line break stays)."""
    return "".join(c for c in text if c == "\n" or (ord(c) >= 32 and ord(c) != 127 and not 0x80 <= ord(c) < 0xA0))


def md_escape(text: str) -> str:
    """Text a visitor may have typed, made inert in robot markdown (see the module docstring)."""
    return plain(text).translate(_MARKUP).replace("://", "：//")


def safe_link(link: str | None) -> str | None:
    """Our own link, if it is an http(s) URL, with what could end a markdown link percent-encoded."""
    if not link:
        return None
    parts = urlsplit(link)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return quote(link, safe=":/?#@!$&'*+,;=%~-._[]")  # ( ) < > space " and the rest encoded


def _fit(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut on a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def robot_markdown(message: Message, *, line_break: str, limit: int) -> str:
    title = f"**{md_escape(message.subject)}**"
    tail: list[str] = []
    tail += [f"{md_escape(label)}: {md_escape(value)}" for label, value in message.facts]
    link = safe_link(message.link)
    if link:
        tail.append(f"[{_LINK_LABEL.get(message.locale, _LINK_LABEL['en'])}]({link})")
    tail_text = line_break.join(tail)
    room = limit - len(title.encode()) - len(tail_text.encode()) - 4 * len(line_break)
    body = _fit(md_escape(message.text).replace("\n", line_break), max(room, 0))
    return _fit(line_break.join(p for p in (title, body, tail_text) if p), limit)


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


_HEADER_SAFE = "".join(chr(c) for c in range(33, 127) if chr(c) != "%")


def generic_request(target: WebhookTarget, message: Message, now: float) -> tuple[str, bytes, dict[str, str]]:
    assert target.secret is not None  # settings_webhooks requires it
    t = int(now)
    body = json.dumps(
        {
            "id": message.key,
            "kind": message.kind,
            "subject": message.subject,
            "text": message.text,
            "link": message.link,
            "alarm": message.alarm,
            "locale": message.locale,
            "facts": [{"label": label, "value": value} for label, value in message.facts],
            "sentAt": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(target.secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return (
        target.url,
        body,
        {
            "Content-Type": "application/json; charset=utf-8",
            "X-Gatehouse-Signature": f"t={t},v1={signature}",
            # Header values are ASCII: a key holding more (a robot's name in it) is percent-encoded.
            "X-Gatehouse-Delivery": quote(message.key, safe=_HEADER_SAFE),
            "X-Gatehouse-Kind": message.kind,
        },
    )


def wecom_request(target: WebhookTarget, message: Message, now: float) -> tuple[str, bytes, dict[str, str]]:
    open_tag, close_tag = ('<font color="warning">', "</font>") if message.alarm else ("", "")
    room = WECOM_MAX_BYTES - len(open_tag) - len(close_tag)
    # The one tag we write ourselves (alarms in the warning colour); everything inside was escaped.
    content = open_tag + robot_markdown(message, line_break="\n", limit=room) + close_tag
    return target.url, _json({"msgtype": "markdown", "markdown": {"content": content}}), _JSON


def dingtalk_request(target: WebhookTarget, message: Message, now: float) -> tuple[str, bytes, dict[str, str]]:
    url = target.url
    if target.secret:
        timestamp = str(int(now * 1000))
        sign = base64.b64encode(_hmac(target.secret.encode(), f"{timestamp}\n{target.secret}".encode())).decode()
        url += ("&" if urlsplit(url).query else "?") + urlencode({"timestamp": timestamp, "sign": sign})
    text = robot_markdown(message, line_break="  \n", limit=DINGTALK_MAX_BYTES)
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": md_escape(message.subject)[:64] or "Gatehouse", "text": text},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
    }
    return url, _json(payload), _JSON


def feishu_card(message: Message) -> dict[str, Any]:
    def text(content: str) -> dict[str, str]:
        return {"tag": "plain_text", "content": plain(content)}

    elements: list[dict[str, Any]] = [{"tag": "div", "text": text(_fit(message.text, FEISHU_MAX_BYTES // 2))}]
    if message.facts:
        elements.append(
            {
                "tag": "div",
                "fields": [{"is_short": True, "text": text(f"{label}: {value}")} for label, value in message.facts],
            }
        )
    link = safe_link(message.link)
    if link:
        label = _LINK_LABEL.get(message.locale, _LINK_LABEL["en"])
        elements.append(
            {"tag": "action", "actions": [{"tag": "button", "text": text(label), "type": "primary", "url": link}]}
        )
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": text(message.subject), "template": "red" if message.alarm else "blue"},
        "elements": elements,
    }


def feishu_request(target: WebhookTarget, message: Message, now: float) -> tuple[str, bytes, dict[str, str]]:
    payload: dict[str, Any] = {"msg_type": "interactive", "card": feishu_card(message)}
    if target.secret:
        timestamp = str(int(now))
        payload["timestamp"] = timestamp
        payload["sign"] = base64.b64encode(_hmac(f"{timestamp}\n{target.secret}".encode(), b"")).decode()
    return target.url, _json(payload), _JSON


_JSON = {"Content-Type": "application/json; charset=utf-8"}
_BUILDERS: dict[str, Callable[[WebhookTarget, Message, float], tuple[str, bytes, dict[str, str]]]] = {
    "generic": generic_request,
    "wecom": wecom_request,
    "dingtalk": dingtalk_request,
    "feishu": feishu_request,
}


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _check_robot_answer(target: WebhookTarget, response: httpx.Response) -> None:
    """The robots answer HTTP 200 with an error code in the body: errcode (WeCom, DingTalk),
    code (Feishu; older answers carry StatusCode)."""
    if target.format == "generic":
        return
    try:
        answer = response.json()
    except ValueError:
        raise TemporaryFailure(f"webhook {target.name!r}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise TemporaryFailure(f"webhook {target.name!r}: unexpected answer")
    field = "code" if target.format == "feishu" else "errcode"
    code = answer.get(field, answer.get("StatusCode", 0))
    if code in (0, None):
        return
    message = answer.get("msg") or answer.get("errmsg") or answer.get("StatusMessage") or ""
    detail = f"webhook {target.name!r}: {field} {code} {message}".rstrip()
    if code in _TEMPORARY_CODES[target.format]:
        raise TemporaryFailure(detail)
    raise PermanentFailure(detail)


class WebhookChannel:
    name: ClassVar[str] = "webhook"

    def __init__(self, settings: WebhookSettings, *, now: Callable[[], float] = clock.unix) -> None:
        self.settings = settings
        self._now = now
        self._client = http.make_client(settings.timeout_seconds)

    async def addresses_for(self, person_id: int) -> list[str]:
        return []

    def targets_for(self, kind: str) -> list[str]:
        return [t.name for t in self.settings.targets if t.takes(kind)]

    async def send(self, message: Message, address: str) -> str | None:
        target = self.settings.target(address)
        if target is None:
            raise PermanentFailure(f"no webhook target is named {address!r} any more (GATEHOUSE_WEBHOOKS)")
        url, body, headers = _BUILDERS[target.format](target, message, self._now())
        response = await http.request(
            self._client,
            f"webhook {target.name!r}",
            "POST",
            url,
            content=body,
            headers=headers,
            seconds=self.settings.timeout_seconds,
        )
        _check_robot_answer(target, response)
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


async def send_test(settings: WebhookSettings, name: str) -> str:
    """`gatehouse test-webhook NAME`: one test message to that target; raises DeliveryError."""
    now = clock.unix()
    message = Message(
        kind="test",
        key=f"test:{name}:{int(now)}",
        subject="Gatehouse 测试消息 / test message",
        text=f"这是一条测试消息, 发往「{name}」。\nThis is a test message to {name!r}.",
        facts=(("目标 / target", name),),
    )
    channel = WebhookChannel(settings)
    try:
        await channel.send(message, name)
    finally:
        await channel.aclose()
    return f"webhook {name!r}: sent (the peer answered 2xx and no error code)"


def build(rt: Runtime) -> WebhookChannel | None:
    settings = rt.settings.webhooks
    return WebhookChannel(settings) if settings is not None else None
