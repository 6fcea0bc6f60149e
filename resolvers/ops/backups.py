"""`gatehouse backup` and the scheduled backups (POLICY 6.1): the database dumped (SQLite's
online backup API, or pg_dump) and sealed into one file (resolvers/ops/backup_file.py), the
off-site command, every run recorded, and the retention of the scheduled ones.

The heavy work is synchronous and run in a thread by `backup`, so the gates are not held up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import BinaryIO

from resolvers.core import clock, db
from resolvers.core.models import BackupRun
from resolvers.core.settings import Settings
from resolvers.ops import backup_file
from resolvers.ops.backup_file import (
    FORMAT,
    MAGIC,
    BackupError,
    Header,
    Sealing,
    fingerprint,
    gatehouse_version,
    master_key,
)
from resolvers.ops.tools import fsync_dir, pg_parts, pg_tool, private_file, removed_after, sqlite_path, tail

log = logging.getLogger("gatehouse.backups")

SUFFIX = ".ghbackup"
KINDS = ("daily", "weekly", "manual")
# Only files with this name and MAGIC at their start are ever pruned: nothing else in the directory.
NAME = re.compile(r"^gatehouse-(daily|weekly|manual)-(\d{8}T\d{6}Z)\.ghbackup$")
_ERROR_CHARS = 1000


class _Hashing:
    """The output file, hashed and counted as it is written."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str  # of the file


def _write_backup(settings: Settings, master: bytes, directory: Path, name: str, now: datetime) -> Written:
    """Dump the database and seal it into `directory/name` (a temporary name until it is whole)."""
    dialect = db.dialect_of(settings.database_url)
    final = directory / name
    partial = directory / f".{name}.partial"
    if final.exists():  # two by hand within a second: the first is not replaced
        raise BackupError(f"{final} already exists")
    with removed_after(partial):
        with private_file(partial) as raw:
            out = _Hashing(raw)

            def sealing(migration: str) -> Sealing:
                header = Header(
                    format=FORMAT,
                    created_at=now.astimezone(UTC).isoformat(),
                    dialect=dialect,
                    migration=migration,
                    gatehouse_version=gatehouse_version(),
                    key_fingerprint=fingerprint(master),
                    salt=base64.b64encode(secrets.token_bytes(16)).decode(),
                )
                return Sealing(out, master, header)

            if dialect == "sqlite":
                _dump_sqlite(settings, sealing)
            else:
                _dump_postgres(settings, sealing)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
    fsync_dir(directory)
    return Written(final, out.size, out.sha.hexdigest())


SNAPSHOT_STALE_SECONDS = 6 * 3600


def _dump_sqlite(settings: Settings, sealing: Callable[[str], Sealing]) -> None:
    source_path = sqlite_path(settings.database_url)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    # The plain copy sits beside the database, never in the backup directory: that may be a mount
    # that is copied off site, and a run killed halfway would leave the database readable there.
    # What such a run left here is cleared by the next one.
    stem = f".{source_path.name}.backup-"
    for stale in source_path.parent.glob(stem + "*"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > SNAPSHOT_STALE_SECONDS:
                stale.unlink()
    snapshot = source_path.parent / f"{stem}{os.getpid()}-{secrets.token_hex(4)}"
    with removed_after(snapshot):
        # SQLite's online backup: a consistent copy while the server goes on writing (WAL readers
        # and the writer do not wait for each other).
        private_file(snapshot).close()
        with (
            contextlib.closing(sqlite3.connect(source_path, timeout=30)) as source,
            contextlib.closing(sqlite3.connect(snapshot)) as copy,
        ):
            source.backup(copy)
            # One self-contained file (no write-ahead log beside it) to seal.
            copy.execute("PRAGMA journal_mode=DELETE")
            try:
                row = copy.execute("SELECT max(name) FROM gatehouse_migration").fetchone()
            except sqlite3.OperationalError:
                row = None
        sealer = sealing(row[0] if row and row[0] else "")
        with open(snapshot, "rb") as f:
            while data := f.read(backup_file.CHUNK):
                sealer.write(data)
        sealer.close()


def _pg_migration(settings: Settings, env: dict[str, str]) -> str:
    psql = pg_tool(settings, "psql")
    done = subprocess.run(
        [psql, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "SELECT max(name) FROM gatehouse_migration"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BackupError(f"cannot read the database's migration level: {tail(done.stderr)}")
    return done.stdout.decode().strip()


def _dump_postgres(settings: Settings, sealing: Callable[[str], Sealing]) -> None:
    _, env = pg_parts(settings.database_url)
    sealer = sealing(_pg_migration(settings, env))
    with tempfile.TemporaryFile() as errors:
        # The custom format: compressed, and pg_restore can take it back table by table.
        dump = subprocess.Popen(
            [pg_tool(settings, "pg_dump"), "--format=custom", "--no-owner", "--no-privileges"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
        )
        assert dump.stdout is not None
        try:
            while data := dump.stdout.read(backup_file.CHUNK):
                sealer.write(data)
        finally:
            dump.stdout.close()
            code = dump.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"pg_dump failed: {tail(errors.read())}")
    sealer.close()


# --------------------------------------------------------------------------- runs


def file_name(kind: str, now: datetime) -> str:
    return f"gatehouse-{kind}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def _offsite(settings: Settings, path: Path) -> str:
    """Run the off-site command with the file as its last argument; "" when it worked."""
    argv = [*settings.backup_offsite_command, str(path)]
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=settings.backup_offsite_seconds, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {settings.backup_offsite_seconds} s"
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        why = tail(done.stderr) or tail(done.stdout)
        return f"exited {done.returncode}" + (f": {why}" if why else "")
    return ""


def _usable_directory(directory: Path) -> None:
    # Not created here: a backup disk that is not mounted must not quietly fill the system disk.
    if not directory.is_dir():
        raise BackupError(f"the backup directory {directory} does not exist (mount or create it)")


async def backup(settings: Settings, directory: Path, kind: str, now: datetime | None = None) -> BackupRun:
    """One backup into `directory`, then the off-site command (when set); the run is recorded
    either way. A failure is in the returned row (`ok` false, `error`), not raised."""
    assert kind in KINDS
    now = now or clock.now()
    started = time.monotonic()
    written: Written | None = None
    error = ""
    try:
        _usable_directory(directory)
        master = master_key(settings)
        written = await asyncio.to_thread(_write_backup, settings, master, directory, file_name(kind, now), now)
    except BackupError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"cannot write the backup: {exc}"
    except Exception as exc:  # recorded, not lost: the point of the table is that failures show
        log.exception("backup failed")
        error = f"{type(exc).__name__}: {exc}"
    offsite_ok: bool | None = None
    offsite_error = ""
    if written is not None and settings.backup_offsite_command:
        offsite_error = await asyncio.to_thread(_offsite, settings, written.path)
        offsite_ok = not offsite_error
        if offsite_error:
            log.warning("backup %s: the off-site copy failed: %s", written.path.name, offsite_error)
    if error:
        log.warning("backup failed: %s", error)
    return await BackupRun.create(
        started_at=now,
        finished_at=now + timedelta(seconds=time.monotonic() - started),
        kind=kind,
        file_name=written.path.name if written else "",
        size=written.size if written else 0,
        sha256=written.sha256 if written else "",
        ok=written is not None,
        error=error[:_ERROR_CHARS],
        offsite_ok=offsite_ok,
        offsite_error=offsite_error[:_ERROR_CHARS],
    )


async def recent_runs(limit: int) -> list[BackupRun]:
    """The latest runs, newest first."""
    return await BackupRun.all().order_by("-started_at", "-id").limit(limit)


async def last_good_run(before: datetime | None = None) -> BackupRun | None:
    """The newest run that wrote a backup (for "no good backup in the last N days")."""
    query = BackupRun.filter(ok=True)
    if before is not None:
        query = query.filter(started_at__lte=before)
    return await query.order_by("-started_at", "-id").first()


# --------------------------------------------------------------------------- the schedule


def last_slot(settings: Settings, now: datetime) -> datetime:
    """The latest scheduled moment at or before `now` (GATEHOUSE_BACKUP_AT, site-local)."""
    tz = settings.tz
    local = now.astimezone(tz)
    hh, mm = (int(part) for part in settings.backup_at.split(":"))
    day = local.date()
    slot = datetime.combine(day, clock_time(hh, mm), tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=1), clock_time(hh, mm), tzinfo=tz)
    return slot.astimezone(UTC)


def _is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def prune(directory: Path, keep_daily: int, keep_weekly: int) -> list[str]:
    """Delete the oldest daily and weekly backups beyond what is kept; manual ones and any file
    this feature did not write stay. Returns the names deleted."""
    found: dict[str, list[tuple[str, Path]]] = {"daily": [], "weekly": []}
    for path in directory.iterdir():
        m = NAME.match(path.name)
        if m and m.group(1) in found and path.is_file() and _is_ours(path):
            found[m.group(1)].append((m.group(2), path))
    deleted: list[str] = []
    for kind, keep in (("daily", keep_daily), ("weekly", keep_weekly)):
        for _, path in sorted(found[kind], reverse=True)[keep:]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            deleted.append(path.name)
    return deleted
