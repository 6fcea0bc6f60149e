"""The daily and weekly backups (POLICY 6.1), run by the server when GATEHOUSE_BACKUP_DIR is set."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from resolvers.core import clock
from resolvers.core.models import BackupRun
from resolvers.core.periodic import Periodic
from resolvers.core.settings import WEEKDAYS, Settings
from resolvers.ops.backups import backup, last_slot, prune
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.backups")
CHECK_SECONDS = 60.0
LOCK_NAME = ".gatehouse-backup.lock"


async def run_due(rt: Runtime, now: datetime) -> BackupRun | None:
    """The scheduled backup, if its moment (GATEHOUSE_BACKUP_AT) has come and no scheduled run has
    been made since: a server that was down at that moment makes it when it starts. On
    GATEHOUSE_BACKUP_WEEKLY_DAY it is the weekly one. After a good one, the oldest backups beyond
    retention go. A failed run is recorded and waits for the next moment (no retry storm)."""
    settings = rt.settings
    if settings.backup_dir is None:
        return None
    slot = last_slot(settings, now)
    if await BackupRun.filter(kind__in=("daily", "weekly"), started_at__gte=slot).exists():
        return None
    with _one_at_a_time(settings.backup_dir) as mine:
        # Another worker of this host is making it: it records the run before letting go.
        if not mine or await BackupRun.filter(kind__in=("daily", "weekly"), started_at__gte=slot).exists():
            return None
        return await _scheduled(settings, slot, now)


@contextlib.contextmanager
def _one_at_a_time(directory: Path) -> Iterator[bool]:
    """An exclusive lock on a file in the backup directory, not waited for: the workers of one
    host do not all make the 02:30 backup. (A directory that cannot be opened is no reason to
    skip: the run then fails and is recorded.)"""
    try:
        handle = open(directory / LOCK_NAME, "a")
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()  # closing releases the lock


async def _scheduled(settings: Settings, slot: datetime, now: datetime) -> BackupRun:
    assert settings.backup_dir is not None
    weekly = slot.astimezone(settings.tz).weekday() == WEEKDAYS.index(settings.backup_weekly_day)
    run = await backup(settings, settings.backup_dir, "weekly" if weekly else "daily", now)
    if run.ok:
        deleted = await asyncio.to_thread(
            prune, settings.backup_dir, settings.backup_keep_daily, settings.backup_keep_weekly
        )
        if deleted:
            log.info("backups past retention deleted: %s", ", ".join(deleted))
    return run


class BackupSchedule(Periodic):
    """Looks once a minute whether a scheduled backup is due; nothing when no directory is set."""

    def __init__(self, rt: Runtime, interval: float = CHECK_SECONDS) -> None:
        super().__init__("backup schedule", lambda: run_due(rt, clock.now()), interval, log)
        self._rt = rt

    def wanted(self) -> bool:
        return self._rt.settings.backup_dir is not None
