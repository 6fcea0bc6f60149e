"""Database start-up: connect, then bring the schema up to date through the migrations."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tortoise.context
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.transactions import in_transaction

MODELS = ["resolvers.core.models"]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def _lighter_postgres_connections() -> None:
    """asyncpg resets every connection it takes back into the pool (RESET ALL, UNLISTEN, unlock
    all advisory locks, ...): a round trip per query on the scan path. Gatehouse sets no session
    state, listens to nothing and takes advisory locks on a connection of its own, so the reset
    is left out; asyncpg still rolls back any open transaction on release."""
    import asyncpg
    from tortoise.backends.asyncpg.client import AsyncpgDBClient

    class NoResetConnection(asyncpg.connection.Connection):
        def get_reset_query(self) -> str:
            return ""

    AsyncpgDBClient.connection_class = NoResetConnection


SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def private_sqlite_file(path: Path) -> None:
    """The database holds password hashes and sealed personal data: owner-only (0600). SQLite
    creates its -wal and -shm files with the database file's mode, so creating that file 0600
    first is enough; files an older version left readable are narrowed too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in SQLITE_SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_mode & 0o077:
            side.chmod(0o600)


class _SqliteReader:
    """A second connection to the SQLite file, for the scan path's point reads, run on the event
    loop's thread itself. Through the ORM such a read goes to a connection's thread and comes back
    through the busy loop (and, before the ORM's reads got a connection of their own,
    resolvers/core/sqlite_reads_apart.py, it also queued behind the group commits and their fsync):
    tens of milliseconds under load for a look-up that costs tens of microseconds. In WAL mode a
    reader neither waits for the writer nor holds it up, and each statement sees every transaction
    committed before it began (a transaction still open on the ORM connection is not seen, as if
    the read had come first). It only reads (query_only): it takes no write lock, so it cannot make
    a transaction on the ORM connection fail for a changed snapshot."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.conn: sqlite3.Connection | None = None

    def get(self) -> sqlite3.Connection | None:
        if self.conn is None and self.path is not None:
            # A short busy timeout: a WAL reader waits only during recovery; the caller then reads
            # through the ORM instead of holding the event loop.
            conn = sqlite3.connect(self.path, timeout=0.05, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            self.conn = conn
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.path = None


_reader = _SqliteReader()
_sql_log = logging.getLogger("tortoise.db_client")  # the ORM's statement log (api/sql_log.py)


def read_now(sql: str, params: Sequence[Any]) -> list[Any] | None:
    """The rows of a short indexed read of the SQLite database file, read at once on the event
    loop's thread (its own read-only connection); None on PostgreSQL or in memory, or while the
    file is busy: the caller then reads through the ORM. Logged as the ORM logs its statements
    (GATEHOUSE_SQL_LOG counts them)."""
    reader = _reader.get()
    if reader is None:
        return None
    _sql_log.debug("%s: %s", sql, params)
    try:
        # fetchall ends the statement: the next read sees whatever was committed since.
        return reader.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return None


def sqlite_file() -> Path | None:
    """The SQLite database file the ORM has open; None on PostgreSQL or in memory."""
    return _reader.path


async def connect(database_url: str) -> None:
    _reader.close()
    if database_url.startswith("sqlite://") and not database_url.startswith("sqlite://:memory:"):
        private_sqlite_file(Path(database_url.removeprefix("sqlite://")))
    if dialect_of(database_url) == "postgres":
        _lighter_postgres_connections()
    # Uvicorn runs the lifespan in a task of its own; requests must still find the connections.
    await Tortoise.init(config=_orm_config(database_url), _enable_global_fallback=True)
    if database_url.startswith("sqlite://") and not database_url.startswith("sqlite://:memory:"):
        _reader.path = Path(database_url.removeprefix("sqlite://"))


# Set on the ORM's connection as it opens (Tortoise takes a sqlite URL's query as pragmas).
# - synchronous=FULL: a commit returns once its WAL frames are on disk (every decision is stored
#   before it is answered); it is SQLite's default, said here so no build's default changes it.
# - journal_size_limit: Tortoise's default (16 KiB) cut the WAL back after every checkpoint, so each
#   commit after one grew the file again, and its fsync then also had to commit the file system's
#   journal for the new size. A WAL kept at its size (about 4 MiB between two automatic checkpoints)
#   is overwritten in place: one-row commits on this machine took ~20 % less CPU (278 -> 217 us)
#   and ~30 % less time (median 0.47 -> 0.33 ms).
SQLITE_PRAGMAS = {"synchronous": "FULL", "journal_size_limit": str(64 * 1024 * 1024)}


def _orm_config(database_url: str) -> dict[str, Any]:
    """The ORM's one connection; on a SQLite file, with its reads apart (resolvers/core/sqlite_reads_apart.py)."""
    connection: dict[str, Any] = expand_db_url(_with_sqlite_pragmas(database_url))
    if dialect_of(database_url) == "sqlite" and not database_url.startswith("sqlite://:memory:"):
        connection["engine"] = "resolvers.core.sqlite_reads_apart"
    return {"connections": {"default": connection}, "apps": {"models": {"models": MODELS}}}


def _with_sqlite_pragmas(database_url: str) -> str:
    if dialect_of(database_url) != "sqlite" or "?" in database_url:
        return database_url
    return database_url + "?" + "&".join(f"{k}={v}" for k, v in SQLITE_PRAGMAS.items())


async def close() -> None:
    _reader.close()
    await connections.close_all()
    tortoise.context._global_context = None


def migration_files(dialect: str) -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob(f"[0-9][0-9][0-9][0-9]_*.{dialect}.sql"))


def _statements(sql: str) -> list[str]:
    """Statements end with `;` at the end of a line (a `;` inside a comment string does not)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in re.split(r";[ \t]*$", "\n".join(lines), flags=re.MULTILINE) if s.strip()]


async def migrate(database_url: str) -> list[str]:
    """Apply the migrations this database has not seen, each in its own transaction."""
    dialect = dialect_of(database_url)
    conn: BaseDBAsyncClient = connections.get("default")
    lock = None
    if dialect == "postgres":
        # Two processes starting at once must not both apply a migration. The lock lives on a
        # connection of its own, held for the whole run (a pooled connection would drop it).
        import asyncpg

        lock = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        await lock.execute("SELECT pg_advisory_lock(714022)")
    try:
        await conn.execute_script(
            "CREATE TABLE IF NOT EXISTS gatehouse_migration ("
            " name VARCHAR(200) NOT NULL PRIMARY KEY,"
            " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        _, rows = await conn.execute_query("SELECT name FROM gatehouse_migration")
        done = {row["name"] for row in rows}
        applied: list[str] = []
        for path in migration_files(dialect):
            name = path.name.split(".", 1)[0]
            if name in done:
                continue
            async with in_transaction() as tx:
                for statement in _statements(path.read_text()):
                    await tx.execute_script(statement)
                await tx.execute_query(
                    "INSERT INTO gatehouse_migration (name) VALUES (" + _param(dialect) + ")", [name]
                )
            applied.append(name)
        return applied
    finally:
        if lock is not None:
            await lock.close()  # closing the session releases its advisory lock


def _param(dialect: str) -> str:
    return "?" if dialect == "sqlite" else "$1"


async def start(database_url: str) -> list[str]:
    await connect(database_url)
    return await migrate(database_url)


async def pending_migrations(database_url: str) -> list[str]:
    """The migrations this code has that the database has not recorded as applied (a read only)."""
    conn: BaseDBAsyncClient = connections.get("default")
    _, rows = await conn.execute_query("SELECT name FROM gatehouse_migration")
    done = {row["name"] for row in rows}
    names = (path.name.split(".", 1)[0] for path in migration_files(dialect_of(database_url)))
    return [name for name in names if name not in done]
