"""Logs whose row id is a resume cursor: ids handed out in commit order, across processes.

A subscriber resumes "after id N" (schema/core/streams.py `resumed`), which is only sound when
no row with an id below N can still commit after N did. With one SQLite database that holds by
itself: SQLite lets one writer at a time hold the database's write lock, from the INSERT that
picks the rowid to the COMMIT, for every process that opens the file, so nothing more is done.

On PostgreSQL ids come from a sequence, outside any lock: worker A takes id 10, worker B takes
11 and commits first, a guard sees 11 (its cursor is now 11), then A commits 10, which a resume
"after 11" never replays. So the writer of such a log takes a transaction-level advisory lock
before its first INSERT: the next writer's ids are drawn only after the previous one committed
(or rolled back) and let go, so id order is commit order, and a reader that sees id N sees
every row below it that will ever exist.

Why this rather than the alternatives:
- a separate commit-sequence column filled at commit needs the same lock to be gap-free in
  order, plus a column, an index and a migration, and every cursor would change meaning;
- a visibility horizon on replay (pg_snapshot_xmin / xid8 per row) needs a column too, holds
  back every reader behind the slowest open writer, and still needs care on the live stream.
The lock costs one round trip per transaction, and the event writer commits in groups (one
transaction per batch, resolvers/scan/event_log.py), so per event it is 1/batch of a round trip;
the price is that the workers' event commits no longer overlap each other (each worker's were
already one at a time): with two workers at full tilt about half the raw commit throughput,
still several times what two workers' scans need (measured in tests/test_commit_order.py).

The lock is `pg_advisory_xact_lock`: released by COMMIT or ROLLBACK, never left on a pooled
connection (the pool does not reset connections, resolvers/core/db.py).
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

# One key per log; 714022 is the migrations' lock (resolvers/core/db.py).
GATE_EVENT_LOG = 714023
ALERT_LOG = 714024


async def ids_in_commit_order(conn: BaseDBAsyncClient, log_key: int) -> None:
    """Call first in the transaction that inserts into the log `log_key` (see the module doc)."""
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [log_key])
