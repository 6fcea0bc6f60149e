"""GATEHOUSE_SMS_URL and the settings beside it: an SMS gateway reached through a configurable
HTTP request (README "SMS gateway"). The body is a template whose placeholders are escaped for
its content type when a message is sent (resolvers/notifications/channels/sms.py); here the
template is tried once with awkward values, so a template that would not parse is a start-up
error, not a failed alarm."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote_plus

from resolvers.core.setting_values import SettingsError
from resolvers.core.settings_webhooks import check_url

PLACEHOLDERS = ("phone", "text", "key", "subject", "token")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DEFAULT_BODY = {
    "json": '{"phone": "{phone}", "text": "{text}", "id": "{key}"}',
    "form": "phone={phone}&text={text}&id={key}",
}
# Some characters a visitor might type, to prove the template holds them (see `render`).
_PROBE = {"phone": '+86 "138"&=\n', "text": '李娜 "x"\\ &a=b\n{text}', "key": "k&=", "subject": 's"', "token": "t&"}


@dataclass(frozen=True)
class SmsSettings:
    url: str
    method: str  # POST, PUT or GET (GET sends the form body as the query string)
    content_type: str  # "json" or "form"
    headers: tuple[tuple[str, str], ...]  # values may hold {token}
    body: str
    token: str | None
    timeout_seconds: float = 10.0
    # What a 2xx answer's body must match to count as sent (gateways that answer 200 with an
    # error code in the body); None: any 2xx is sent.
    sent_match: re.Pattern[str] | None = None


def escape(value: str, content_type: str) -> str:
    """A value as it goes into the body: inside a JSON string (the template writes the quotes),
    or one form-encoded value; either way it cannot end its field or add another."""
    if content_type == "json":
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return quote_plus(value, safe="")


def render(template: str, values: dict[str, str], content_type: str) -> str:
    """Replace each {name} in one pass (a value holding "{text}" is not expanded again)."""
    return PLACEHOLDER.sub(lambda m: escape(values.get(m.group(1), ""), content_type), template)


def _token(env: dict[str, str]) -> str | None:
    token = env.get("GATEHOUSE_SMS_TOKEN") or None
    path = (env.get("GATEHOUSE_SMS_TOKEN_FILE") or "").strip()
    if token and path:
        raise SettingsError("GATEHOUSE_SMS_TOKEN and GATEHOUSE_SMS_TOKEN_FILE are both set: set one")
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"GATEHOUSE_SMS_TOKEN_FILE {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    if token is not None and (not token.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in token)):
        raise SettingsError("GATEHOUSE_SMS_TOKEN must be one line of ASCII without control characters")
    return token


def _headers(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    raw = (env.get("GATEHOUSE_SMS_HEADERS") or "").strip()
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"GATEHOUSE_SMS_HEADERS is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise SettingsError('GATEHOUSE_SMS_HEADERS must be a JSON object such as {"Authorization": "Bearer {token}"}')
    out = []
    for name, value in data.items():
        if not _HEADER_NAME.fullmatch(name) or not isinstance(value, str) or not value.isascii():
            raise SettingsError(f"GATEHOUSE_SMS_HEADERS: {name!r} is not a header name with an ASCII string value")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise SettingsError(f"GATEHOUSE_SMS_HEADERS: {name!r} has a control character in its value")
        unknown = [p for p in PLACEHOLDER.findall(value) if p != "token"]
        if unknown:
            raise SettingsError(f"GATEHOUSE_SMS_HEADERS: {name!r} may hold only {{token}}, not {{{unknown[0]}}}")
        out.append((name, value))
    return tuple(out)


def parse(env: dict[str, str]) -> SmsSettings | None:
    url = (env.get("GATEHOUSE_SMS_URL") or "").strip()
    if not url:
        return None
    url = check_url("GATEHOUSE_SMS_URL", url)
    method = (env.get("GATEHOUSE_SMS_METHOD") or "POST").strip().upper()
    if method not in ("POST", "PUT", "GET"):
        raise SettingsError(f"GATEHOUSE_SMS_METHOD must be POST, PUT or GET, got {method!r}")
    content_type = (env.get("GATEHOUSE_SMS_CONTENT_TYPE") or "json").strip().lower()
    if content_type not in ("json", "form"):
        raise SettingsError(f"GATEHOUSE_SMS_CONTENT_TYPE must be json or form, got {content_type!r}")
    if method == "GET" and content_type != "form":
        raise SettingsError(
            "GATEHOUSE_SMS_METHOD=GET sends the body as a query string: it needs GATEHOUSE_SMS_CONTENT_TYPE=form"
        )
    token = _token(env)
    headers = _headers(env)
    body = env.get("GATEHOUSE_SMS_BODY") or DEFAULT_BODY[content_type]
    used = PLACEHOLDER.findall(body)
    unknown = sorted(set(used) - set(PLACEHOLDERS))
    if unknown:
        raise SettingsError(
            f"GATEHOUSE_SMS_BODY: unknown placeholder {{{unknown[0]}}} (placeholders: {', '.join(PLACEHOLDERS)})"
        )
    if "phone" not in used or "text" not in used:
        raise SettingsError("GATEHOUSE_SMS_BODY must hold {phone} and {text}")
    if token is None and ("token" in used or any("{token}" in v for _, v in headers)):
        raise SettingsError("GATEHOUSE_SMS_BODY or GATEHOUSE_SMS_HEADERS use {token}: set GATEHOUSE_SMS_TOKEN or _FILE")
    _try(body, content_type)
    raw_timeout = (env.get("GATEHOUSE_SMS_TIMEOUT_SECONDS") or "10").strip()
    try:
        timeout = float(raw_timeout)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 120:
        raise SettingsError(f"GATEHOUSE_SMS_TIMEOUT_SECONDS must be above 0 and at most 120, got {raw_timeout!r}")
    return SmsSettings(url, method, content_type, headers, body, token, timeout, _sent_match(env))


MAX_SENT_MATCH = 500  # characters of GATEHOUSE_SMS_SENT_MATCH


def _sent_match(env: dict[str, str]) -> re.Pattern[str] | None:
    raw = (env.get("GATEHOUSE_SMS_SENT_MATCH") or "").strip()
    if not raw:
        return None
    if len(raw) > MAX_SENT_MATCH:
        raise SettingsError(f"GATEHOUSE_SMS_SENT_MATCH is longer than {MAX_SENT_MATCH} characters")
    try:
        return re.compile(raw)
    except re.error as exc:
        raise SettingsError(f"GATEHOUSE_SMS_SENT_MATCH is not a regular expression ({exc})") from None


def _try(body: str, content_type: str) -> None:
    """The template, filled with awkward values, must parse and give back each value whole."""
    rendered = render(body, _PROBE, content_type)
    if content_type == "json":
        try:
            json.loads(rendered)
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f'GATEHOUSE_SMS_BODY is not a JSON template (placeholders go inside quotes: "{{text}}"): {exc.msg}'
            ) from None
        return
    try:
        parse_qsl(rendered, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SettingsError("GATEHOUSE_SMS_BODY is not a form template such as phone={phone}&text={text}") from None
