"""SQLite's WAL checkpoints on their own thread (resolvers/core/wal_checkpoints.py).

While it runs the writing connection never checkpoints inside a commit, and the WAL still does
not grow without end under commits that never pause; stopped, SQLite's automatic checkpoints
come back. Run on a SQLite file in this process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tortoise import connections

from resolvers.core import db
from resolvers.core.models import Department
from resolvers.core.wal_checkpoints import SQLITE_AUTOCHECKPOINT, WalCheckpointer
from tests.harness import eventually


async def _autocheckpoint() -> int:
    # Not a SELECT: the writing connection answers (resolvers/core/sqlite_reads_apart.py).
    _, rows = await connections.get("default").execute_query("PRAGMA wal_autocheckpoint")
    return int(rows[0][0])


async def test_the_server_writer_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "gh.sqlite3"
    await db.start(f"sqlite://{path}")
    checkpoints = WalCheckpointer(every=0.01)
    try:
        await checkpoints.start()
        assert await _autocheckpoint() == 0
        created = 0
        longest = 0

        async def started_over() -> bool:
            # The writer never checkpoints: a WAL shorter than it was is one the thread copied
            # whole, and a commit after the copy wrote from its start again.
            nonlocal created, longest
            for _ in range(5):
                await Department.create(name=f"部门 {created}")
                created += 1
            pages = checkpoints.pages
            if pages < longest:
                return True
            longest = pages
            return False

        await eventually(started_over, 30, "the WAL started over")
        assert await Department.all().count() == created
    finally:
        await checkpoints.stop()
        await db.close()


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS passage (id INTEGER PRIMARY KEY, who TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS passage_who ON passage (who)")
    return conn


@pytest.mark.parametrize("restart_pages", [50, 1_000_000], ids=["restarting", "copying-only"])
def test_a_long_wal_starts_over_though_commits_never_pause(tmp_path: Path, restart_pages: int) -> None:
    """At a steady 500 commits a second a commit is always under way while the checkpoint copies,
    so no commit begins with every page copied, and only such a commit starts the WAL over. Here a
    commit opened before each checkpoint and committed during it stands for that; the checkpoint
    that also takes the write lock for a moment once the WAL is long lets the next commit start
    it over, and one that only copies (the control) never does."""
    path = tmp_path / "wal.sqlite3"
    writer = _writer(path)
    own = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    checkpoints = WalCheckpointer(restart_pages=restart_pages)
    copy = checkpoints._run_checkpoint

    def copy_while_a_commit_is_under_way(conn: sqlite3.Connection, mode: str) -> int:
        if mode == "PASSIVE":
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO passage (who) VALUES (?)", ("李娜",))
            busy = copy(conn, mode)
            writer.execute("COMMIT")
            return busy
        return copy(conn, mode)

    checkpoints._run_checkpoint = copy_while_a_commit_is_under_way  # type: ignore[method-assign]
    try:
        for turn in range(40):
            for i in range(10):
                writer.execute("INSERT INTO passage (who) VALUES (?)", (f"張偉 {turn}-{i}",))
            checkpoints.checkpoint(own)
        longest = checkpoints.pages
        if restart_pages == 50:
            assert longest < 200, longest  # started over again and again
            assert checkpoints.restarts >= 5
        else:
            assert longest > 800, longest  # every page of every commit still in the WAL
            assert checkpoints.restarts == 0
        assert writer.execute("SELECT count(*) FROM passage").fetchone()[0] == 40 * 11
    finally:
        own.close()
        writer.close()


async def test_stopping_gives_the_writer_its_automatic_checkpoints_back(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'gh.sqlite3'}"
    await db.start(url)
    checkpoints = WalCheckpointer(every=0.01)
    try:
        await checkpoints.start()
        await Department.create(name="Zoë's team")
        await eventually(lambda: checkpoints.pages > 0, 10, "a checkpoint that saw the commit")
        await checkpoints.stop()
        assert await _autocheckpoint() == SQLITE_AUTOCHECKPOINT
        await checkpoints.stop()  # twice is harmless
    finally:
        await db.close()


async def test_nothing_runs_for_a_database_in_memory() -> None:
    await db.start("sqlite://:memory:")
    checkpoints = WalCheckpointer(every=0.01)
    try:
        await checkpoints.start()
        assert checkpoints._thread is None
        assert await _autocheckpoint() == SQLITE_AUTOCHECKPOINT  # left as SQLite has it
    finally:
        await checkpoints.stop()
        await db.close()
