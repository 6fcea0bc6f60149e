"""Settings come from the environment (GATEHOUSE_*), never from code changes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resolvers.core import settings_sms, settings_webhooks
from resolvers.core.setting_values import SettingsError, _int, _seconds
from resolvers.core.settings_notify import EmailSettings, NotifySettings, email_settings, notify_settings
from resolvers.core.settings_sms import SmsSettings
from resolvers.core.settings_webhooks import WebhookSettings
from resolvers.core.settings_webpush import WebPushSettings, webpush_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


# Retention (README "Retention and erasure"): the legal minimum of each setting, and why.
RETENTION_MINIMUMS = {
    "GATEHOUSE_RETENTION_PASSAGE_DAYS": (180, "Cybersecurity Law art. 21: network logs at least six months"),
    "GATEHOUSE_RETENTION_AUDIT_DAYS": (180, "Cybersecurity Law art. 21: network logs at least six months"),
    "GATEHOUSE_RETENTION_ATTENDANCE_DAYS": (730, "wage and attendance records at least two years"),
}


def _retention_days(env: dict[str, str], name: str, default: int) -> int:
    minimum, why = RETENTION_MINIMUMS[name]
    value = _int(env, name, default, minimum=-(2**31))  # refused below with the legal reason
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum} days ({why}), got {value}")
    return value


def _roles(env: dict[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    from resolvers.core.models import Role

    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    roles = tuple(r.strip().upper() for r in raw.split(",") if r.strip())
    unknown = [r for r in roles if r not in Role.__members__]
    if unknown:
        raise SettingsError(f"{name} names unknown roles: {', '.join(unknown)}")
    return roles


def _metrics_token(env: dict[str, str]) -> str | None:
    token = env.get("GATEHOUSE_METRICS_TOKEN") or None
    if token is not None and len(token) < 16:
        raise SettingsError("GATEHOUSE_METRICS_TOKEN must be at least 16 characters (a guessable token opens /metrics)")
    return token


def _networks(env: dict[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    import ipaddress

    raw = env.get(name)
    if raw is None:
        return default
    networks = tuple(n.strip() for n in raw.split(",") if n.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {network!r} is not an address or a network (10.0.0.0/8)") from None
    return networks


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _BackupSettings(TypedDict):
    backup_dir: Path | None
    backup_at: str
    backup_weekly_day: str
    backup_keep_daily: int
    backup_keep_weekly: int
    backup_offsite_command: tuple[str, ...]
    backup_offsite_seconds: int
    pg_bin_dir: Path | None


def _backup_settings(env: dict[str, str]) -> _BackupSettings:
    """The backup schedule (README "Backups"): checked here so a typo stops the start, not the 02:30 run."""
    import shlex

    raw_dir = (env.get("GATEHOUSE_BACKUP_DIR") or "").strip()
    at = (env.get("GATEHOUSE_BACKUP_AT") or "02:30").strip()
    hh, sep, mm = at.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
        raise SettingsError(f"GATEHOUSE_BACKUP_AT must be a local time HH:MM, got {at!r}")
    day = (env.get("GATEHOUSE_BACKUP_WEEKLY_DAY") or "sunday").strip().lower()
    if day not in WEEKDAYS:
        raise SettingsError(f"GATEHOUSE_BACKUP_WEEKLY_DAY must be a day of the week (monday ... sunday), got {day!r}")
    command = (env.get("GATEHOUSE_BACKUP_OFFSITE_COMMAND") or "").strip()
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise SettingsError(f"GATEHOUSE_BACKUP_OFFSITE_COMMAND cannot be split into words: {exc}") from None
    pg_bin = (env.get("GATEHOUSE_PG_BIN_DIR") or "").strip()
    if pg_bin and not Path(pg_bin).is_dir():
        raise SettingsError(f"GATEHOUSE_PG_BIN_DIR {pg_bin!r} is not a directory")
    return {
        "backup_dir": Path(raw_dir) if raw_dir else None,
        "backup_at": f"{int(hh):02d}:{mm}",
        "backup_weekly_day": day,
        "backup_keep_daily": _int(env, "GATEHOUSE_BACKUP_KEEP_DAILY", 7),
        "backup_keep_weekly": _int(env, "GATEHOUSE_BACKUP_KEEP_WEEKLY", 5),
        "backup_offsite_command": argv,
        "backup_offsite_seconds": _int(env, "GATEHOUSE_BACKUP_OFFSITE_SECONDS", 3600),
        "pg_bin_dir": Path(pg_bin) if pg_bin else None,
    }


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    redis_prefix: str
    key_file: Path
    secret_key: str | None
    time_zone: str
    heartbeat_seconds: int = 30
    hello_timeout_seconds: float = 5.0
    ws_ping_seconds: float = 20.0
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    door_open_ms: int = 3000
    visitor_retention_days: int = 30
    upkeep_seconds: int = 30
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    trusted_proxies: frozenset[str] = frozenset()
    graphiql: bool = False
    # GraphQL operation limits (schema/core/limits.py has the per-document ones).
    max_body_bytes: int = 64 * 1024
    operation_seconds: float = 10.0
    trusted_documents: bool = False
    sql_log: Path | None = None
    # "required": ADMIN and SECURITY_ADMIN act only after a second factor; "optional": anyone may
    # enrol, nobody must (the demo). Dangerous operations need a confirmation this recent.
    second_factor: str = "required"
    confirmation_minutes: int = 5

    @property
    def second_factor_required(self) -> bool:
        return self.second_factor == "required"

    # Approvals (README "Approvals"): a step waiting this long moves one level up; the top of
    # every chain is decided by holders of the fallback roles.
    approval_escalate_hours: int = 48
    emergency_escalate_minutes: int = 15
    approval_fallback_roles: tuple[str, ...] = ("ADMIN",)
    # TLS served by uvicorn itself (POLICY 6.3): both or neither; `gatehouse serve` checks them.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # Logs (api/logs.py): "text" or "json" lines, and the least severe level written.
    log_format: str = "text"
    log_level: str = "info"
    # Key rotation (README "Keys"): the master key being retired, while `gatehouse rotate-key`
    # re-seals under GATEHOUSE_SECRET_KEY (the key-file set-up keeps it in <key file>.previous);
    # how often a server looks whether the key file changed (it also looks at once when it meets
    # data or a token under a key it does not hold).
    previous_secret_key: str | None = None
    key_reload_seconds: float = 2.0
    # How long passages (the gate event log), attendance records and audit entries are kept.
    retention_passage_days: int = 365
    retention_attendance_days: int = 1095
    retention_audit_days: int = 1095
    # Several workers (README "Several workers", resolvers/core/leadership.py): which lock picks the
    # one that runs the site-wide loops, and how long a dead holder's Redis lease lasts (the lock
    # is checked every third of it).
    leader_lock: str = "auto"
    leader_ttl_seconds: float = 15.0

    # /metrics (README "Health and metrics"): a bearer token that opens it from anywhere, and the
    # addresses (networks) that may read it without one.
    metrics_token: str | None = None
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1")
    # Backups (README "Backups"): no directory, no scheduled backups.
    backup_dir: Path | None = None
    backup_at: str = "02:30"  # site-local HH:MM
    backup_weekly_day: str = "sunday"
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 5
    backup_offsite_command: tuple[str, ...] = ()
    backup_offsite_seconds: int = 3600
    pg_bin_dir: Path | None = None
    # Faces (README "Faces"): the largest embedding distance a match may have, whether face
    # recognition runs at all ("auto": when its packages import), and whether enrolment photos are kept.
    face_match_distance: float = 0.45
    faces: str = "auto"
    face_keep_photo: bool = False
    # The most face templates an offline terminal's snapshot carries (README "Faces", offline terminals).
    face_offline_max: int = 1000
    # Notifications (README "Webhooks and robots", "SMS gateway"): None when not configured.
    webhooks: WebhookSettings | None = None
    sms: SmsSettings | None = None
    # Notifications (README "Notifications", resolvers/core/settings_notify.py).
    notify: NotifySettings = field(default_factory=NotifySettings)
    email: EmailSettings | None = None
    # Web Push (README "Notifications"): the VAPID key and subject; None: no push channel.
    webpush: WebPushSettings | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        var_dir = PROJECT_DIR / "var"
        database_url = env.get("GATEHOUSE_DATABASE_URL") or f"sqlite://{var_dir / 'gatehouse.sqlite3'}"
        if not database_url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise SettingsError(
                "GATEHOUSE_DATABASE_URL must start with sqlite:// or postgres://, "
                f"got {database_url.split(':', 1)[0]!r}"
            )
        redis_url = env.get("GATEHOUSE_REDIS_URL") or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("GATEHOUSE_REDIS_URL must start with redis://, rediss:// or unix://")
        time_zone = env.get("GATEHOUSE_TIME_ZONE") or "UTC"
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"GATEHOUSE_TIME_ZONE {time_zone!r} is not an IANA time zone") from None
        second_factor = (env.get("GATEHOUSE_SECOND_FACTOR") or "required").strip().lower()
        if second_factor not in ("required", "optional"):
            raise SettingsError(f"GATEHOUSE_SECOND_FACTOR must be required or optional, got {second_factor!r}")
        leader_lock = (env.get("GATEHOUSE_LEADER_LOCK") or "auto").strip().lower()
        if leader_lock not in ("auto", "postgres", "redis", "file"):
            raise SettingsError(f"GATEHOUSE_LEADER_LOCK must be auto, postgres, redis or file, got {leader_lock!r}")
        if leader_lock == "redis" and not redis_url:
            raise SettingsError("GATEHOUSE_LEADER_LOCK=redis needs GATEHOUSE_REDIS_URL")
        if leader_lock == "postgres" and database_url.startswith("sqlite"):
            raise SettingsError("GATEHOUSE_LEADER_LOCK=postgres needs a PostgreSQL GATEHOUSE_DATABASE_URL")
        if leader_lock == "file" and (not database_url.startswith("sqlite") or ":memory:" in database_url):
            raise SettingsError("GATEHOUSE_LEADER_LOCK=file needs a SQLite database in a file")
        origins = tuple(o.strip() for o in env.get("GATEHOUSE_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=env.get("GATEHOUSE_REDIS_PREFIX") or "gatehouse:",
            key_file=Path(env.get("GATEHOUSE_KEY_FILE") or var_dir / "gatehouse.key"),
            secret_key=env.get("GATEHOUSE_SECRET_KEY") or None,
            time_zone=time_zone,
            heartbeat_seconds=_int(env, "GATEHOUSE_HEARTBEAT_SECONDS", 30),
            ws_ping_seconds=_seconds(env, "GATEHOUSE_WS_PING_SECONDS", 20.0),
            access_token_minutes=_int(env, "GATEHOUSE_ACCESS_TOKEN_MINUTES", 15),
            refresh_token_days=_int(env, "GATEHOUSE_REFRESH_TOKEN_DAYS", 30),
            door_open_ms=_int(env, "GATEHOUSE_DOOR_OPEN_MS", 3000),
            visitor_retention_days=_int(env, "GATEHOUSE_VISITOR_RETENTION_DAYS", 30),
            upkeep_seconds=_int(env, "GATEHOUSE_UPKEEP_SECONDS", 30),
            allowed_origins=origins,
            trusted_proxies=frozenset(
                p.strip() for p in env.get("GATEHOUSE_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            graphiql=env.get("GATEHOUSE_GRAPHIQL", "0") not in ("0", "false", "no"),
            max_body_bytes=_int(env, "GATEHOUSE_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            operation_seconds=_seconds(env, "GATEHOUSE_OPERATION_SECONDS", 10.0),
            trusted_documents=env.get("GATEHOUSE_TRUSTED_DOCUMENTS", "0") not in ("0", "false", "no", ""),
            sql_log=Path(env["GATEHOUSE_SQL_LOG"]) if env.get("GATEHOUSE_SQL_LOG") else None,
            second_factor=second_factor,
            confirmation_minutes=_int(env, "GATEHOUSE_CONFIRMATION_MINUTES", 5),
            approval_escalate_hours=_int(env, "GATEHOUSE_APPROVAL_ESCALATE_HOURS", 48),
            emergency_escalate_minutes=_int(env, "GATEHOUSE_EMERGENCY_ESCALATE_MINUTES", 15),
            approval_fallback_roles=_roles(env, "GATEHOUSE_APPROVAL_FALLBACK_ROLES", ("ADMIN",)),
            ssl_certfile=Path(env["GATEHOUSE_SSL_CERTFILE"]) if env.get("GATEHOUSE_SSL_CERTFILE") else None,
            ssl_keyfile=Path(env["GATEHOUSE_SSL_KEYFILE"]) if env.get("GATEHOUSE_SSL_KEYFILE") else None,
            log_format=log_format(env),
            log_level=log_level(env),
            previous_secret_key=env.get("GATEHOUSE_PREVIOUS_SECRET_KEY") or None,
            key_reload_seconds=_seconds(env, "GATEHOUSE_KEY_RELOAD_SECONDS", 2.0),
            retention_passage_days=_retention_days(env, "GATEHOUSE_RETENTION_PASSAGE_DAYS", 365),
            retention_attendance_days=_retention_days(env, "GATEHOUSE_RETENTION_ATTENDANCE_DAYS", 1095),
            retention_audit_days=_retention_days(env, "GATEHOUSE_RETENTION_AUDIT_DAYS", 1095),
            leader_lock=leader_lock,
            leader_ttl_seconds=_seconds(env, "GATEHOUSE_LEADER_TTL_SECONDS", 15.0),
            metrics_token=_metrics_token(env),
            metrics_allow=_networks(env, "GATEHOUSE_METRICS_ALLOW", ("127.0.0.0/8", "::1")),
            **_backup_settings(env),
            **_face_settings(env),
            webhooks=settings_webhooks.parse(env),
            sms=settings_sms.parse(env),
            webpush=webpush_settings(env),
            email=email_settings(env),
            notify=notify_settings(env),  # after the channels: their own errors say more than "set the public URL"
        )


def _face_settings(env: dict[str, str]) -> dict[str, Any]:
    raw = (env.get("GATEHOUSE_FACE_MATCH_DISTANCE") or "0.45").strip()
    try:
        distance = float(raw)
    except ValueError:
        distance = -1.0
    # Above the library's 0.6 two different people start to match (README "Faces").
    if not 0 < distance <= 0.6:
        raise SettingsError(f"GATEHOUSE_FACE_MATCH_DISTANCE must be a number in (0, 0.6], got {raw!r}")
    faces = (env.get("GATEHOUSE_FACES") or "auto").strip().lower()
    if faces not in ("auto", "on", "off"):
        raise SettingsError(f"GATEHOUSE_FACES must be auto, on or off, got {faces!r}")
    keep = (env.get("GATEHOUSE_FACE_KEEP_PHOTO") or "0").strip().lower() not in ("0", "false", "no", "off", "")
    raw_max = (env.get("GATEHOUSE_FACE_OFFLINE_MAX") or "1000").strip()
    if not raw_max.isdigit() or not 0 <= int(raw_max) <= 20000:
        raise SettingsError(f"GATEHOUSE_FACE_OFFLINE_MAX must be a whole number from 0 to 20000, got {raw_max!r}")
    return {
        "face_match_distance": distance,
        "faces": faces,
        "face_keep_photo": keep,
        "face_offline_max": int(raw_max),
    }


# --------------------------------------------------------------------------- the registry
#
# Every GATEHOUSE_* variable the server reads, in one place: `gatehouse settings` and `serve -h`
# list it, the README table is generated from it (`gatehouse settings --markdown`), and a variable
# in the environment that is not here is warned about at start (a misspelt GATEHOUSE_TIMEZONE was
# ignored silently). tests/test_operator_cli.py fails when the source reads a name missing here.


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as the operator reads it, not necessarily a Python value
    help: str


REGISTRY: tuple[Setting, ...] = (
    Setting(
        "GATEHOUSE_DATABASE_URL",
        "sqlite://<project>/var/gatehouse.sqlite3",
        "`sqlite:///abs/path.sqlite3` or `postgres://user:pw@host:5432/db`",
    ),
    Setting(
        "GATEHOUSE_REDIS_URL",
        "unset (in-process bus and state)",
        "`redis://host:6379/0`: event bus, replay cache, presence and device routing shared by all workers",
    ),
    Setting("GATEHOUSE_REDIS_PREFIX", "gatehouse:", "key prefix, to share one Redis between sites"),
    Setting(
        "GATEHOUSE_SECRET_KEY",
        "unset",
        "32-byte master key, standard base64; every worker of a site needs the same one",
    ),
    Setting(
        "GATEHOUSE_KEY_FILE",
        "var/gatehouse.key",
        "where the master key is kept (created 0600 on first start) when `GATEHOUSE_SECRET_KEY` is unset",
    ),
    Setting("GATEHOUSE_TIME_ZONE", "UTC", "the site's IANA time zone (`Date` values are days there)"),
    Setting("GATEHOUSE_HEARTBEAT_SECONDS", "30", "told to devices in `welcome`; 3 missed beats mark a device offline"),
    Setting(
        "GATEHOUSE_WS_PING_SECONDS",
        "20",
        "WebSocket keepalive ping to browsers and phones on /graphql; one not answered within as long again is "
        "closed (gates get none: their heartbeats tell)",
    ),
    Setting("GATEHOUSE_ACCESS_TOKEN_MINUTES", "15", "lifetime of an access token"),
    Setting("GATEHOUSE_REFRESH_TOKEN_DAYS", "30", "lifetime of a session (its refresh token)"),
    Setting("GATEHOUSE_DOOR_OPEN_MS", "3000", "how long a granted scan opens the door"),
    Setting(
        "GATEHOUSE_ALLOWED_ORIGINS",
        "empty",
        "comma-separated origins (`https://app.example.com`) that get CORS headers on every route; none otherwise",
    ),
    Setting(
        "GATEHOUSE_GRAPHIQL",
        "0",
        "`1` serves GraphiQL (from web/dist, no CDN) at GET /graphql and opens introspection and field suggestions "
        "to anyone (`make serve` turns it on for the demo); otherwise only signed-in employees get them",
    ),
    Setting("GATEHOUSE_MAX_BODY_BYTES", "65536", "larger GraphQL request bodies get 413, before they are parsed"),
    Setting(
        "GATEHOUSE_OPERATION_SECONDS",
        "10",
        "time budget of one query; an overrun is cancelled with `BAD_USER_INPUT` (`extensions.limit: time`)",
    ),
    Setting(
        "GATEHOUSE_TRUSTED_DOCUMENTS",
        "0",
        "`1`: only the documents in `mobile_contracts/` run (sent in full or as "
        "`extensions.persistedQuery.sha256Hash`), any document for ADMIN",
    ),
    Setting(
        "GATEHOUSE_SQL_LOG",
        "unset",
        "a file path: every SQL statement sent, one per line, without values (finding N+1 queries)",
    ),
    Setting(
        "GATEHOUSE_VISITOR_RETENTION_DAYS",
        "30",
        "days after a visit before the visitor's personal data is anonymised",
    ),
    Setting(
        "GATEHOUSE_RETENTION_PASSAGE_DAYS",
        "365",
        "days the gate event log (passages, refusals, door events) is kept; at least 180 (Retention and erasure)",
    ),
    Setting(
        "GATEHOUSE_RETENTION_ATTENDANCE_DAYS",
        "1095",
        "days attendance records (stored attendance days, HR's corrections) are kept; at least 730",
    ),
    Setting(
        "GATEHOUSE_RETENTION_AUDIT_DAYS",
        "1095",
        "days audit entries are kept; at least 180, and the database refuses to delete younger ones whatever this says",
    ),
    Setting("GATEHOUSE_UPKEEP_SECONDS", "30", "how often visit and fleet housekeeping runs"),
    Setting(
        "GATEHOUSE_LEADER_TTL_SECONDS",
        "15",
        "several workers: the leader's lock is checked (and a follower tries to take it) every third of this; a dead "
        "holder's Redis lease runs out after it (Several workers)",
    ),
    Setting(
        "GATEHOUSE_LEADER_LOCK",
        "auto",
        "which lock picks the leading worker: `auto` (PostgreSQL advisory lock on PostgreSQL, a file lock beside a "
        "SQLite file), or `postgres`, `file`, `redis` (Several workers)",
    ),
    Setting(
        "GATEHOUSE_APPROVAL_ESCALATE_HOURS",
        "48",
        "an approval step waiting longer moves one level up (Approvals)",
    ),
    Setting(
        "GATEHOUSE_EMERGENCY_ESCALATE_MINUTES",
        "15",
        "an emergency walk-in's approval step waiting longer moves one level up (Approvals)",
    ),
    Setting(
        "GATEHOUSE_APPROVAL_FALLBACK_ROLES",
        "ADMIN",
        "comma-separated roles that decide at the top of every approval chain",
    ),
    Setting(
        "GATEHOUSE_TRUSTED_PROXIES",
        "unset",
        "comma-separated proxy addresses whose `X-Forwarded-For` is believed (rate limits, audit)",
    ),
    Setting(
        "GATEHOUSE_SECOND_FACTOR",
        "required",
        "`required`: a session of an ADMIN or SECURITY_ADMIN that passed no second factor acts without those "
        "roles; `optional`: nobody must (`make serve` sets it for the demo)",
    ),
    Setting(
        "GATEHOUSE_CONFIRMATION_MINUTES",
        "5",
        "how long a sign-in or `confirmIdentity` lets a session run `evacuate`, a site-wide `lockdown` and "
        "`remoteOpen`",
    ),
    Setting(
        "GATEHOUSE_FONT",
        "Noto Sans CJK SC from Debian's `fonts-noto-cjk`",
        "the font of badges, labels, charts and PDFs: a `.ttf`/`.otf`/`.ttc` path, `#N` after it for face N of a "
        "collection; it must show Chinese (see Fonts)",
    ),
    Setting("GATEHOUSE_LOG_FORMAT", "text", "`text`: one readable line per event; `json`: one JSON object per line"),
    Setting(
        "GATEHOUSE_LOG_LEVEL",
        "info",
        "`debug`, `info`, `warning`, `error` or `critical`: the least severe lines written (server and uvicorn alike)",
    ),
    Setting(
        "GATEHOUSE_SSL_CERTFILE",
        "unset",
        "serve HTTPS/WSS with this PEM certificate chain (with GATEHOUSE_SSL_KEYFILE; `serve --ssl-certfile`)",
    ),
    Setting(
        "GATEHOUSE_PREVIOUS_SECRET_KEY",
        "unset",
        'during `gatehouse rotate-key` with GATEHOUSE_SECRET_KEY: the master key being retired (README "Keys")',
    ),
    Setting(
        "GATEHOUSE_KEY_RELOAD_SECONDS",
        "2",
        "how often a server looks whether the key file changed (a rotation's new key is picked up without restart)",
    ),
    Setting(
        "GATEHOUSE_BACKUP_DIR",
        "unset: no scheduled backups",
        "where scheduled backups go: another disk or a mount (Backups)",
    ),
    Setting("GATEHOUSE_BACKUP_AT", "02:30", "site-local `HH:MM` of the daily backup"),
    Setting("GATEHOUSE_BACKUP_WEEKLY_DAY", "sunday", "that day's backup is the weekly one"),
    Setting("GATEHOUSE_BACKUP_KEEP_DAILY", "7", "how many daily backups are kept"),
    Setting("GATEHOUSE_BACKUP_KEEP_WEEKLY", "5", "how many weekly backups are kept"),
    Setting(
        "GATEHOUSE_BACKUP_OFFSITE_COMMAND",
        "unset",
        "run after each backup with the file's path as its last argument, without a shell; a failure is recorded",
    ),
    Setting(
        "GATEHOUSE_BACKUP_OFFSITE_SECONDS", "3600", "the off-site command is stopped and recorded as failed after this"
    ),
    Setting("GATEHOUSE_PG_BIN_DIR", "unset", "the directory of `pg_dump`, `pg_restore` and `psql`, when not on `PATH`"),
    Setting(
        "GATEHOUSE_METRICS_TOKEN",
        "unset",
        "a bearer token (16 characters or more) that opens `/metrics` from any address (Health and metrics)",
    ),
    Setting(
        "GATEHOUSE_METRICS_ALLOW",
        "127.0.0.0/8,::1",
        "comma-separated addresses or networks that read `/metrics` without the token; empty: the token only",
    ),
    Setting("GATEHOUSE_SSL_KEYFILE", "unset", "the PEM private key of GATEHOUSE_SSL_CERTFILE, without a passphrase"),
    Setting(
        "GATEHOUSE_FACE_MATCH_DISTANCE",
        "0.45",
        "largest face embedding distance that counts as a match, in (0, 0.6]; stricter than the library's 0.6",
    ),
    Setting("GATEHOUSE_FACES", "auto", "face recognition: `on`, `off`, or `auto` (on when its packages import)"),
    Setting(
        "GATEHOUSE_FACE_KEEP_PHOTO",
        "0",
        "1: keep the enrolment photo (sealed) beside the template; else only the template",
    ),
    Setting(
        "GATEHOUSE_FACE_OFFLINE_MAX",
        "1000",
        "most face templates an offline terminal's snapshot carries (~1.1 KB each); past it none, logged",
    ),
    Setting(
        "GATEHOUSE_WEBHOOKS",
        "unset: no robots",
        "a JSON list (or `@/path/file.json`) of webhook targets `{name, format: wecom|dingtalk|feishu|generic, url, "
        'secret, kinds: ["alarm.*", "summary.daily"]}` notifications are posted to (Webhooks and robots)',
    ),
    Setting("GATEHOUSE_WEBHOOK_TIMEOUT_SECONDS", "10", "how long one webhook post may take before it is retried later"),
    Setting(
        "GATEHOUSE_SMS_URL",
        "unset: no SMS",
        "the SMS gateway's https URL; setting it turns the SMS channel on (SMS gateway)",
    ),
    Setting("GATEHOUSE_SMS_METHOD", "POST", "`POST`, `PUT`, or `GET` (the form body as the query string)"),
    Setting("GATEHOUSE_SMS_CONTENT_TYPE", "json", "`json` or `form`: how the body and its placeholders are encoded"),
    Setting(
        "GATEHOUSE_SMS_BODY",
        'json: `{"phone": "{phone}", "text": "{text}", "id": "{key}"}`',
        "the request body, with `{phone}` `{text}` `{key}` `{subject}` `{token}`, each escaped for the content type "
        "(in JSON inside quotes)",
    ),
    Setting(
        "GATEHOUSE_SMS_HEADERS",
        "unset",
        'a JSON object of extra request headers; values may hold `{token}` (`{"Authorization": "Bearer {token}"}`)',
    ),
    Setting("GATEHOUSE_SMS_TOKEN", "unset", "the gateway's secret, put where the headers or body say `{token}`"),
    Setting("GATEHOUSE_SMS_TOKEN_FILE", "unset", "a file holding GATEHOUSE_SMS_TOKEN instead (one line)"),
    Setting("GATEHOUSE_SMS_TIMEOUT_SECONDS", "10", "how long one SMS request may take before it is retried later"),
    Setting(
        "GATEHOUSE_SMS_SENT_MATCH",
        "unset: any 2xx is sent",
        "a regular expression a 2xx answer's body must match to count as sent, for gateways that answer 200 with "
        'an error code (e.g. `"Code"\\s*:\\s*"OK"`); one that does not is retried later',
    ),
    Setting(
        "GATEHOUSE_PUBLIC_URL",
        "unset",
        "the http(s) base of the links messages carry (`https://gate.example.com`); required once any notification "
        "channel is configured (Notifications)",
    ),
    Setting("GATEHOUSE_NOTIFY_MAX_ATTEMPTS", "8", "a notification not sent after this many attempts is `failed`"),
    Setting(
        "GATEHOUSE_NOTIFY_MAX_AGE_HOURS", "24", "a notification not sent this long after it was written is `failed`"
    ),
    Setting(
        "GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS",
        "7",
        "a `failed` or `suppressed` message is kept (sealed) this long for an admin's retry, then cleared",
    ),
    Setting(
        "GATEHOUSE_NOTIFY_PER_RECIPIENT_HOUR",
        "30",
        "most notifications one address gets per hour; more are `suppressed`",
    ),
    Setting(
        "GATEHOUSE_NOTIFY_PER_HOST_HOUR",
        "60",
        "most messages one person's actions cause per hour (invitations); more are `suppressed`",
    ),
    Setting("GATEHOUSE_NOTIFY_CONCURRENCY", "4", "sends in flight at once per channel"),
    Setting("GATEHOUSE_NOTIFY_SEND_SECONDS", "20", "one send taking longer is abandoned and retried"),
    Setting(
        "GATEHOUSE_NOTIFY_LEASE_SECONDS",
        "60",
        "a notification being sent by a server that died is sent again after this (at least once; receivers dedupe)",
    ),
    Setting("GATEHOUSE_NOTIFY_BACKOFF_SECONDS", "5", "the first retry's delay; doubled each attempt, with jitter"),
    Setting("GATEHOUSE_NOTIFY_PAUSED", "0", "1: nothing is sent (the outbox fills; for maintenance and tests)"),
    Setting("GATEHOUSE_SMTP_HOST", "unset: no email channel", "the SMTP server that sends email (Notifications)"),
    Setting("GATEHOUSE_SMTP_PORT", "587 (465 with tls)", "its port"),
    Setting("GATEHOUSE_SMTP_TLS", "starttls", "`starttls`, `tls` (implicit, port 465) or `none` (a local relay only)"),
    Setting("GATEHOUSE_SMTP_USERNAME", "unset", "SMTP AUTH user, when the server asks for one"),
    Setting("GATEHOUSE_SMTP_PASSWORD", "unset", "SMTP AUTH password (or GATEHOUSE_SMTP_PASSWORD_FILE)"),
    Setting("GATEHOUSE_SMTP_PASSWORD_FILE", "unset", "a file holding the SMTP password (a container secret)"),
    Setting("GATEHOUSE_SMTP_FROM", "unset", "the From address of every email (required with GATEHOUSE_SMTP_HOST)"),
    Setting("GATEHOUSE_SMTP_TIMEOUT", "15", "seconds an SMTP connection or command may take"),
    Setting(
        "GATEHOUSE_VAPID_PRIVATE_KEY_FILE",
        "unset: no Web Push",
        "the VAPID private key (PEM) Web Push requests are signed with; `gatehouse vapid-keys --out FILE` makes one",
    ),
    Setting(
        "GATEHOUSE_VAPID_PRIVATE_KEY",
        "unset",
        "the VAPID private key as a value (PEM, or 32 bytes base64url) instead of a file",
    ),
    Setting(
        "GATEHOUSE_VAPID_SUBJECT",
        "unset",
        "with a VAPID key: `mailto:ops@example.com` or `https://your.site`, where push services can reach you",
    ),
)
SETTINGS: dict[str, Setting] = {s.name: s for s in REGISTRY}

# GATEHOUSE_* names in the source that are not server settings: they are neither warned about in a
# server's environment nor listed as settings. Each says whose it is.
NOT_SETTINGS: dict[str, str] = {
    "GATEHOUSE_TEST_POSTGRES_URL": "tests: the PostgreSQL server the tests create databases on",
    "GATEHOUSE_TEST_REDIS_URL": "tests: the Redis the tests use",
    "GATEHOUSE_TEST_FORK": "tests: 0 starts each test server in a fresh interpreter",
    "GATEHOUSE_TEST_CHROMIUM": "tests: the Chromium the browser tests drive",
    "GATEHOUSE_TEST_CLOCK_FILE": "tests: the clock a test server follows (tests/server_child.py)",
    "GATEHOUSE_TEST_IMPORTS": "tests: modules a test server imports at start (tests/server_child.py)",
    "GATEHOUSE_TEST_FACTS_FILE": "tests: the facts a test's finding source finds (tests/supervision_facts.py)",
    "GATEHOUSE_GATE_SECRET": "the gate agent's device secret (devices/gate_agent), not the server's",
}

_PREFIX = "GATEHOUSE_"
_BY_SUFFIX = {name.removeprefix(_PREFIX): name for name in SETTINGS}

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def unknown_variables(env: dict[str, str] | None = None) -> list[str]:
    """One warning per GATEHOUSE_* variable in the environment that nothing reads, naming the
    closest setting: a misspelt name is otherwise a default in force without anyone knowing."""
    import difflib

    env = dict(os.environ if env is None else env)
    warnings = []
    for name in sorted(env):
        if not name.startswith(_PREFIX) or name in SETTINGS or name in NOT_SETTINGS:
            continue
        # Compared without the prefix every name shares, which would make any name look close.
        close = difflib.get_close_matches(name.removeprefix(_PREFIX), list(_BY_SUFFIX), n=1, cutoff=0.6)
        hint = f" (did you mean {_BY_SUFFIX[close[0]]}?)" if close else " (gatehouse settings lists them)"
        warnings.append(f"{name} is not a Gatehouse setting{hint}")
    return warnings


def log_format(env: dict[str, str]) -> str:
    value = (env.get("GATEHOUSE_LOG_FORMAT") or SETTINGS["GATEHOUSE_LOG_FORMAT"].default).strip().lower()
    if value not in LOG_FORMATS:
        raise SettingsError(f"GATEHOUSE_LOG_FORMAT must be text or json, got {value!r}")
    return value


def log_level(env: dict[str, str]) -> str:
    value = (env.get("GATEHOUSE_LOG_LEVEL") or SETTINGS["GATEHOUSE_LOG_LEVEL"].default).strip().lower()
    if value not in LOG_LEVELS:
        raise SettingsError(f"GATEHOUSE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value


_NAME_FIRST = re.compile(r"^(GATEHOUSE_[A-Z0-9_]+)")


def problems(env: dict[str, str] | None = None) -> list[str]:
    """Every bad setting at once, one message each (from_env stops at the first): each time the
    variable it names is left out and the rest read again, so an operator fixes them in one go."""
    env = dict(os.environ if env is None else env)
    found: list[str] = []
    for _ in range(len(REGISTRY) + 1):
        try:
            Settings.from_env(env)
            return found
        except SettingsError as exc:
            found.append(str(exc))
            match = _NAME_FIRST.match(str(exc))
            if match is None or match.group(1) not in env:
                return found
            del env[match.group(1)]
    return found


def settings_table() -> str:
    """`gatehouse settings` and the epilog of `gatehouse serve -h`: every variable, its default and help."""
    import textwrap

    lines = []
    for s in REGISTRY:
        lines.append(f"  {s.name}  (default: {s.default.replace('`', '')})")
        indent = " " * 6
        lines.extend(textwrap.wrap(s.help.replace("`", ""), width=92, initial_indent=indent, subsequent_indent=indent))
    return "\n".join(lines)


def _markdown_default(default: str) -> str:
    # A literal value as code; a description ("unset (in-process bus and state)") as words.
    return default if " " in default or default in ("unset", "empty") else f"`{default}`"


def settings_markdown() -> str:
    """The README's table of settings (between `<!-- settings:start -->` and `<!-- settings:end -->`)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {_markdown_default(s.default)} | {s.help} |" for s in REGISTRY]
    return "\n".join(rows) + "\n"
