"""Settings come from the environment (GATEHOUSE_*), never from code changes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_DIR = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 86400:
        raise SettingsError(f"{name} must be above 0 and below a day, got {raw}")
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
    # Backups (README "Backups"): no directory, no scheduled backups.
    backup_dir: Path | None = None
    backup_at: str = "02:30"  # site-local HH:MM
    backup_weekly_day: str = "sunday"
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 5
    backup_offsite_command: tuple[str, ...] = ()
    backup_offsite_seconds: int = 3600
    pg_bin_dir: Path | None = None

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
        origins = tuple(o.strip() for o in env.get("GATEHOUSE_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=env.get("GATEHOUSE_REDIS_PREFIX") or "gatehouse:",
            key_file=Path(env.get("GATEHOUSE_KEY_FILE") or var_dir / "gatehouse.key"),
            secret_key=env.get("GATEHOUSE_SECRET_KEY") or None,
            time_zone=time_zone,
            heartbeat_seconds=_int(env, "GATEHOUSE_HEARTBEAT_SECONDS", 30),
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
            **_backup_settings(env),
        )
