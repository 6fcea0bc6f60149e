"""Files and PostgreSQL client tools that backing up and restoring both use."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from resolvers.core.settings import Settings
from resolvers.ops.backup_file import BackupError


def sqlite_path(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite://").split("?", 1)[0])


def pg_parts(database_url: str) -> tuple[str, dict[str, str]]:
    """The database name, and the connection as libpq's environment: never the password on a
    command line, where any user of the machine could read it."""
    url = urlsplit(database_url)
    name = unquote(url.path.lstrip("/"))
    env = {**os.environ}
    for var, value in (
        ("PGHOST", url.hostname),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", unquote(url.username) if url.username else None),
        ("PGPASSWORD", unquote(url.password) if url.password else None),
        ("PGDATABASE", name),
    ):
        if value:
            env[var] = value
    return name, env


def pg_tool(settings: Settings, name: str) -> str:
    if settings.pg_bin_dir is not None:
        tool = settings.pg_bin_dir / name
        if not os.access(tool, os.X_OK):
            raise BackupError(f"{name} is not in GATEHOUSE_PG_BIN_DIR ({settings.pg_bin_dir})")
        return str(tool)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return str(candidates[-1])
    raise BackupError(f"{name} not found: install the PostgreSQL client, or name its directory in GATEHOUSE_PG_BIN_DIR")


def tail(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]


@contextlib.contextmanager
def removed_after(path: Path) -> Iterator[Path]:
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def private_file(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
