"""SQLite's WAL checkpoints on a thread of their own, not inside a gate event's commit.

By default the connection that commits a transaction which takes the WAL past 1,000 pages runs
the checkpoint itself, inside that commit: it copies every page the WAL holds back into the
database file and syncs it before the commit returns. On the scan path that commit is a group
commit other gates' decisions wait for: at 500 lone scans a second (one event per commit, eight
pages each with the event's indexes) a checkpoint fell due every hundred-odd commits, and those
took 3-12 ms instead of 0.5 (bench/scan_throughput.py --modes open, the insert's p99 in the
writer's thread: 3.1-5.0 ms with them, 1.8-3.0 ms with this thread, 1.4 ms with no checkpoint at all).

So while the server runs, its writing connection never checkpoints (wal_autocheckpoint=0) and
this thread, on a connection of its own, runs a PASSIVE checkpoint every CHECK_EVERY seconds: it
copies what it can without waiting for, or holding up, a reader or a writer, and syncs the
database file. A commit that begins with every page copied writes the WAL from its start again,
so the file stays at its size (journal_size_limit) instead of growing; under commits that never
pause none begins so (the WAL grew by 4,600 pages a second in the bench), hence the RESTART in
`checkpoint`. The CLI's own connections keep SQLite's automatic checkpoints, and the last
connection to close checkpoints what is left.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading

from tortoise import connections

from resolvers.core import db

log = logging.getLogger("gatehouse.db")

CHECK_EVERY = 0.25  # seconds; at 500 commits a second SQLite's own would run about every 0.3 s
# Pages in the WAL (4 KiB each) past which it is started over: half the file's kept size
# (journal_size_limit, resolvers/core/db.py), about two seconds of lone scans at 500 a second.
RESTART_PAGES = 8_000
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, given back to the writer when the thread stops
# A WAL this long has not been started over for a while (a reader holding an old snapshot, one
# that never ends, keeps it from being): worth a warning.
WARN_PAGES = 100_000


class WalCheckpointer:
    """Started after the database is connected, stopped before it is closed (api/app.py)."""

    def __init__(self, every: float = CHECK_EVERY, restart_pages: int = RESTART_PAGES) -> None:
        self.every = every
        self.restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (busy, pages in the WAL, pages copied) from the latest checkpoint: tests and /metrics read it.
        self.last: tuple[int, int, int] | None = None
        self.restarts = 0  # RESTART checkpoints that copied everything with no reader left behind
        self._warned = False

    @property
    def pages(self) -> int:
        """Pages in the WAL at the latest checkpoint (0 before the first, or on PostgreSQL)."""
        return self.last[1] if self.last is not None else 0

    async def start(self) -> None:
        path = db.sqlite_file()
        if path is None:
            return
        try:
            # No busy timeout: a checkpoint another worker is running is skipped, not waited for.
            own = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("no connection for WAL checkpoints to %s: the writer keeps checkpointing itself", path)
            return
        await connections.get("default").execute_script("PRAGMA wal_autocheckpoint = 0")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(own,), name="wal-checkpoints", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        thread, self._thread = self._thread, None
        # It sleeps on the event: it ends within one checkpoint's time.
        await asyncio.to_thread(thread.join)
        try:
            await connections.get("default").execute_script(f"PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT}")
        except Exception:  # the connection is closed next anyway, and its close checkpoints
            log.warning("the writer's automatic WAL checkpoints could not be turned back on", exc_info=True)

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self.checkpoint(conn)
                except Exception:  # a thread that died would leave the WAL to grow while the server runs
                    log.exception("a WAL checkpoint failed; the next turn tries again")
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One turn: copy what the WAL holds; once it is long, let the next commit restart it."""
        self._run_checkpoint(conn, "PASSIVE")
        if self.last is not None and self.last[1] >= self.restart_pages:
            # Only a commit that begins with every page already copied starts the WAL over, and
            # at a steady 500 commits a second none does: so, the bulk just copied without a lock,
            # the few pages committed since are copied holding the write lock for that moment. A
            # commit arriving then waits for it (SQLite's busy handler, 1-3 ms); if a commit holds
            # the lock, nothing waits and the next turn tries again.
            if self._run_checkpoint(conn, "RESTART") == 0:
                self.restarts += 1

    def _run_checkpoint(self, conn: sqlite3.Connection, mode: str) -> int:
        """SQLite's busy flag: 0 when the checkpoint did all its mode asks for."""
        try:
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            # The file briefly locked (a backup's restore, say): the next turn tries again.
            log.debug("WAL checkpoint skipped: %s", exc)
            return 1
        busy, pages, copied = (int(v) for v in row)
        self.last = (busy, pages, copied)
        if pages > WARN_PAGES and not self._warned:
            self._warned = True
            log.warning(
                "the SQLite WAL has grown to %d pages (%d copied): a read that never ends keeps it from starting over",
                pages,
                copied,
            )
        elif pages <= WARN_PAGES:
            self._warned = False
        return busy
