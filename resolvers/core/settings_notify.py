"""Notification settings (README "Notifications"): the outbox's sender and the email channel.

Parsed here, apart from settings.py, so each channel's settings stay in one small module; a bad
value stops the start with one line, like any setting. GATEHOUSE_PUBLIC_URL is the base of every
link a message carries: required as soon as any channel is configured (a link to `localhost`
reaches nobody).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from resolvers.core.setting_values import SettingsError, _int, _seconds

# Any variable starting so means a channel is configured (each channel's module parses the rest):
# email's SMTP host, the webhooks, the SMS gateway, Web Push's VAPID keys.
# The variables that turn a channel on (a timeout alone does not).
CHANNEL_VARIABLES = tuple(
    "GATEHOUSE_" + p for p in ("SMTP_HOST", "WEBHOOKS", "SMS_URL", "VAPID_PRIVATE_KEY", "VAPID_PRIVATE_KEY_FILE")
)
TLS_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class NotifySettings:
    public_url: str | None = None
    max_attempts: int = 8
    max_age_hours: int = 24
    # A failed or held-back message is kept (sealed) this long so an admin can send it again.
    keep_failed_days: int = 7
    per_recipient_hour: int = 30
    per_host_hour: int = 60
    concurrency: int = 4
    send_seconds: float = 20.0
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    # Tests: 1 keeps the sender from sending (rows stay pending), to kill a server between commit and send.
    paused: bool = False


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str  # the From address
    tls: str  # starttls | tls | none
    timeout: float


def public_url(env: dict[str, str]) -> str | None:
    raw = (env.get("GATEHOUSE_PUBLIC_URL") or "").strip()
    configured = any(env.get(name, "").strip() for name in CHANNEL_VARIABLES)
    if not raw:
        if configured:
            raise SettingsError("GATEHOUSE_PUBLIC_URL must be set when a notification channel is configured")
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"GATEHOUSE_PUBLIC_URL must be an http(s) URL like https://gate.example.com, got {raw!r}")
    return raw.rstrip("/")


def notify_settings(env: dict[str, str]) -> NotifySettings:
    return NotifySettings(
        public_url=public_url(env),
        max_attempts=_int(env, "GATEHOUSE_NOTIFY_MAX_ATTEMPTS", 8),
        max_age_hours=_int(env, "GATEHOUSE_NOTIFY_MAX_AGE_HOURS", 24),
        keep_failed_days=_int(env, "GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS", 7),
        per_recipient_hour=_int(env, "GATEHOUSE_NOTIFY_PER_RECIPIENT_HOUR", 30),
        per_host_hour=_int(env, "GATEHOUSE_NOTIFY_PER_HOST_HOUR", 60),
        concurrency=_int(env, "GATEHOUSE_NOTIFY_CONCURRENCY", 4),
        send_seconds=_seconds(env, "GATEHOUSE_NOTIFY_SEND_SECONDS", 20.0),
        lease_seconds=_seconds(env, "GATEHOUSE_NOTIFY_LEASE_SECONDS", 60.0),
        backoff_seconds=_seconds(env, "GATEHOUSE_NOTIFY_BACKOFF_SECONDS", 5.0),
        paused=(env.get("GATEHOUSE_NOTIFY_PAUSED") or "0").strip().lower() not in ("0", "false", "no", "off", ""),
    )


def email_settings(env: dict[str, str]) -> EmailSettings | None:
    host = (env.get("GATEHOUSE_SMTP_HOST") or "").strip()
    if not host:
        return None
    tls = (env.get("GATEHOUSE_SMTP_TLS") or "starttls").strip().lower()
    if tls not in TLS_MODES:
        raise SettingsError(f"GATEHOUSE_SMTP_TLS must be starttls, tls or none, got {tls!r}")
    port = _int(env, "GATEHOUSE_SMTP_PORT", 465 if tls == "tls" else 587)
    if port > 65535:
        raise SettingsError(f"GATEHOUSE_SMTP_PORT must be a port number, got {port}")
    password = env.get("GATEHOUSE_SMTP_PASSWORD") or None
    password_file = (env.get("GATEHOUSE_SMTP_PASSWORD_FILE") or "").strip()
    if password_file:
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"GATEHOUSE_SMTP_PASSWORD_FILE cannot be read: {exc.strerror}") from None
    sender = (env.get("GATEHOUSE_SMTP_FROM") or "").strip()
    if not sender or "@" not in sender or any(c in sender for c in "\r\n"):
        raise SettingsError(f"GATEHOUSE_SMTP_FROM must be an email address, got {sender!r}")
    return EmailSettings(
        host=host,
        port=port,
        username=(env.get("GATEHOUSE_SMTP_USERNAME") or "").strip() or None,
        password=password,
        sender=sender,
        tls=tls,
        timeout=_seconds(env, "GATEHOUSE_SMTP_TIMEOUT", 15.0),
    )
