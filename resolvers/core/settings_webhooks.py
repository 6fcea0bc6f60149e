"""GATEHOUSE_WEBHOOKS: the group robots and integrations notifications are posted to (README
"Webhooks and robots"), checked at start so a typo is a one-line start-up error, not a silent
robot. Parsed here rather than in settings.py, which only calls `parse` (one field, one line)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from resolvers.core.setting_values import SettingsError

# The notification kinds (NOTIFY_SPEC.md "Kinds"). resolvers/notifications/kinds.py (notify-core)
# owns them; it is not on this branch yet and resolvers.core may not import a domain, so the
# names a target may take are repeated here: keep the two in step (a test compares them once
# both exist).
KINDS: tuple[str, ...] = (
    "visit.invitation",
    "visit.awaiting_approval",
    "visit.reminder",
    "visit.arrival",
    "visit.overstay",
    "visit.emergency",
    "approval.pending",
    "loan.overdue",
    "alarm.device_offline",
    "alarm.door_forced",
    "alarm.repeated_denials",
    "summary.daily",
    "summary.weekly",
)

FORMATS = ("wecom", "dingtalk", "feishu", "generic")
_FIELDS = {"name", "format", "url", "secret", "kinds"}
NAME = "GATEHOUSE_WEBHOOKS"


@dataclass(frozen=True)
class WebhookTarget:
    name: str
    format: str  # one of FORMATS
    url: str
    secret: str | None
    kinds: tuple[str, ...]  # exact kinds, "prefix.*" or "*"

    def takes(self, kind: str) -> bool:
        for pattern in self.kinds:
            if pattern == "*" or pattern == kind:
                return True
            if pattern.endswith(".*") and kind.startswith(pattern[:-1]):
                return True
        return False


@dataclass(frozen=True)
class WebhookSettings:
    targets: tuple[WebhookTarget, ...]
    timeout_seconds: float = 10.0

    def target(self, name: str) -> WebhookTarget | None:
        return next((t for t in self.targets if t.name == name), None)


def check_url(name: str, url: object) -> str:
    """An absolute https URL, or http to this machine only (a local relay, the tests): the
    message and the secret-bearing URL never cross a network in clear text."""
    if not isinstance(url, str) or not url.strip():
        raise SettingsError(f"{name}: the url is missing")
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise SettingsError(f"{name}: {url!r} is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise SettingsError(f"{name}: {url!r} is not an https:// URL")
    if parts.scheme == "http" and not _loopback(host):
        raise SettingsError(
            f"{name}: {url!r} must be https:// (http:// only to this machine: 127.0.0.1, ::1, localhost)"
        )
    if any(c in url for c in "\r\n\t ") or parts.fragment:
        raise SettingsError(f"{name}: {url!r} is not a URL (spaces, line breaks or a #fragment)")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _kind_pattern(where: str, pattern: object) -> str:
    if not isinstance(pattern, str):
        raise SettingsError(f"{where}: kinds must be strings, got {pattern!r}")
    if pattern == "*" or pattern in KINDS:
        return pattern
    if pattern.endswith(".*") and any(k.startswith(pattern[:-1]) for k in KINDS):
        return pattern
    raise SettingsError(
        f"{where}: unknown kind {pattern!r} (kinds: {', '.join(KINDS)}, a prefix such as alarm.*, or *)"
    )


def _target(index: int, raw: object, seen: set[str]) -> WebhookTarget:
    where = f"{NAME}[{index}]"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be an object with name, format, url, kinds (and secret)")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise SettingsError(f"{where}: unknown field {unknown[0]!r} (fields: name, format, url, secret, kinds)")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
        raise SettingsError(f"{where}: name must be a non-empty one-line string")
    name = name.strip()
    where = f"{NAME} target {name!r}"
    if name in seen:
        raise SettingsError(f"{where}: the name is used twice")
    seen.add(name)
    fmt = raw.get("format")
    if fmt not in FORMATS:
        raise SettingsError(f"{where}: unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    url = check_url(where, raw.get("url"))
    secret = raw.get("secret")
    if secret is not None and (not isinstance(secret, str) or any(ord(c) < 32 for c in secret)):
        raise SettingsError(f"{where}: secret must be a one-line string")
    secret = secret or None
    if fmt == "generic" and (secret is None or len(secret) < 16):
        raise SettingsError(f"{where}: a generic webhook needs a secret of 16 characters or more (it signs each body)")
    kinds = raw.get("kinds")
    if not isinstance(kinds, list) or not kinds:
        raise SettingsError(f'{where}: kinds must be a non-empty list such as ["alarm.*", "summary.daily"]')
    return WebhookTarget(name, str(fmt), url, secret, tuple(_kind_pattern(where, k) for k in kinds))


def _read(raw: str) -> Any:
    text = raw.strip()
    source = NAME
    if text.startswith("@"):
        path = Path(text[1:])
        source = f"{NAME} file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{source} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{source} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def parse(env: dict[str, str]) -> WebhookSettings | None:
    raw = env.get(NAME) or ""
    timeout = _timeout(env)
    if not raw.strip():
        return None
    data = _read(raw)
    if not isinstance(data, list):
        raise SettingsError(f"{NAME} must be a JSON list of targets (or @/path/to/file.json holding one)")
    seen: set[str] = set()
    targets = tuple(_target(i, t, seen) for i, t in enumerate(data))
    if not targets:
        return None
    return WebhookSettings(targets, timeout)


def _timeout(env: dict[str, str]) -> float:
    name = "GATEHOUSE_WEBHOOK_TIMEOUT_SECONDS"
    raw = (env.get(name) or "").strip()
    if not raw:
        return 10.0
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 120:
        raise SettingsError(f"{name} must be above 0 and at most 120, got {raw}")
    return value
