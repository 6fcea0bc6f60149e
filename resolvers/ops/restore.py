"""`gatehouse verify-backup` and `gatehouse restore` (README "Backups"): a file is opened whole
before anything is written where it matters, and a restore goes only into an empty database."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from resolvers.core import db
from resolvers.core.settings import Settings
from resolvers.ops.backup_file import BackupError, Header, master_key, open_into, read_header
from resolvers.ops.tools import fsync_dir, pg_parts, pg_tool, private_file, removed_after, sqlite_path, tail


def _check_payload_sqlite(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            result = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup opens, but the database in it does not: {exc}") from None
    if not result or result[0] != "ok":
        raise BackupError(f"the backup opens, but the database in it is damaged: {result}")


def _check_payload_postgres(settings: Settings, path: Path) -> None:
    done = subprocess.run([pg_tool(settings, "pg_restore"), "--list", str(path)], capture_output=True, timeout=600)
    if done.returncode != 0:
        raise BackupError(f"the backup opens, but pg_restore cannot read the dump in it: {tail(done.stderr)}")


def verify(settings: Settings, path: Path, key_file: Path | None = None) -> str:
    """Open the whole file and check the database in it, changing nothing anywhere."""
    master = master_key(settings, key_file)
    header = read_header(path)
    with tempfile.TemporaryDirectory(prefix="gatehouse-verify-") as tmp:
        payload = Path(tmp) / "payload"
        with private_file(payload) as out:
            open_into(path, master, out.write)
        if header.dialect == "sqlite":
            _check_payload_sqlite(payload)
        else:
            _check_payload_postgres(settings, payload)
    return f"{path.name}: good; {header.describe()}"


def _known_migration(header: Header) -> None:
    known = {p.name.split(".", 1)[0] for p in db.migration_files(header.dialect)}
    if header.migration and header.migration not in known:
        raise BackupError(
            f"this backup is at migration {header.migration}, which this Gatehouse does not know:"
            " restore it with the version that made it or a newer one"
        )


def _sqlite_has_data(path: Path) -> bool:
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_size > 0:
            return True
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError:
        return True  # something that is not an empty database: not ours to overwrite


def _restore_sqlite(master: bytes, path: Path, target: Path) -> None:
    if _sqlite_has_data(target):
        raise BackupError(f"{target} already holds a database: restore only into an empty one (move it away first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.restoring-{os.getpid()}"
    with removed_after(partial):
        with private_file(partial) as out:
            open_into(path, master, out.write)
            out.flush()
            os.fsync(out.fileno())
        _check_payload_sqlite(partial)
        if _sqlite_has_data(target):  # written to while this ran
            raise BackupError(f"{target} was written to during the restore; nothing was changed")
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
        os.replace(partial, target)
    fsync_dir(target.parent)


def _pg_tables(settings: Settings, env: dict[str, str]) -> int:
    done = subprocess.run(
        [
            pg_tool(settings, "psql"),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BackupError(f"cannot reach the database to restore into: {tail(done.stderr)}")
    return int(done.stdout.decode().strip() or 0)


def _restore_postgres(settings: Settings, master: bytes, path: Path) -> None:
    name, env = pg_parts(settings.database_url)
    if _pg_tables(settings, env):
        raise BackupError(
            f"the database {name!r} already has tables: restore only into an empty one (createdb a new one)"
        )
    with tempfile.TemporaryDirectory(prefix="gatehouse-restore-") as tmp:
        payload = Path(tmp) / "payload"
        # Opened in full before pg_restore sees a byte: a damaged file changes nothing.
        with private_file(payload) as out:
            open_into(path, master, out.write)
        done = subprocess.run(
            [
                pg_tool(settings, "pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                name,
                str(payload),
            ],
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=24 * 3600,
        )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {tail(done.stderr)}")


def restore(settings: Settings, path: Path, key_file: Path | None = None) -> str:
    """Put the backup into the (empty) database GATEHOUSE_DATABASE_URL names."""
    master = master_key(settings, key_file)
    header = read_header(path)
    dialect = db.dialect_of(settings.database_url)
    if header.dialect != dialect:
        raise BackupError(
            f"this is a backup of a {header.dialect} database; GATEHOUSE_DATABASE_URL names a {dialect} one"
        )
    _known_migration(header)
    if dialect == "sqlite":
        target = sqlite_path(settings.database_url)
        _restore_sqlite(master, path, target)
        where = str(target)
    else:
        _restore_postgres(settings, master, path)
        where = f"database {pg_parts(settings.database_url)[0]!r}"
    text = f"restored {path.name} ({header.describe()}) into {where}"
    current: bytes | None = None
    with contextlib.suppress(BackupError):
        current = master_key(settings)
    if key_file is not None and master != current:
        text += f"\nnote: its personal data is sealed with key {header.key_fingerprint}: serve it with that key"
    return text
