"""A batch of gate events as one INSERT statement, returning their ids: one round trip per batch.

The event writer commits events in groups (resolvers/scan/event_log.py). `GateEvent.create` per
row built a model instance and ran one statement per event, about three times the cost of one
multi-row INSERT for the whole batch: this writes the same columns, with the values converted the
way Tortoise converts them (an ORM read of a row written here gives the same fields; see
tests/test_gate_event_writer.py), in one statement per batch.

- PostgreSQL: `INSERT ... SELECT FROM unnest($1::timestamptz[], ...) RETURNING id`, one
  statement text whatever the batch size, so asyncpg's prepared-statement cache always hits.
- SQLite: `INSERT ... VALUES (...), (...)` on the ORM's connection thread, the ids from the last
  rowid (`_sqlite_store_batch`); in a caller's transaction, `... RETURNING id` (SQLite >= 3.35).

`store_batch` sends that statement alone, outside any explicit transaction: one statement is its
own transaction, committed (synchronous_commit, SQLite's synchronous commit) when it returns, so
a batch is BEGIN + INSERT + COMMIT in one round trip rather than three (four with the lock). On
PostgreSQL the statement takes the log's commit-order lock itself (resolvers/core/commit_order.py):
`WITH lock AS (SELECT pg_advisory_xact_lock(key)) ... FROM lock CROSS JOIN unnest(...)`. No row
of that join exists before the lock's one row does, and the ids are drawn (the column default,
`nextval`) for each row of the join: every id of the batch is drawn with the lock held, and the
lock is let go at the statement's commit, as `ids_in_commit_order` does for a longer transaction
(tests/test_event_rows.py holds the lock elsewhere and sees the statement wait for it).

Ids are drawn in the order the rows are inserted (the sequence, or SQLite's AUTOINCREMENT, one row
after the other in the order of the VALUES or of the arrays), while RETURNING promises no order:
the ids are sorted, which gives the batch's events their ids in batch order. A duplicate (the
UNIQUE (device_id, device_seq) or (credential_cid, credential_step)) fails the whole statement with
an IntegrityError, and the event log then stores the batch one event at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError

from resolvers.core.commit_order import GATE_EVENT_LOG
from resolvers.core.models import GateEvent
from resolvers.scan.gate_event import GateEventRecord

# (column, PostgreSQL array type) in the order the values are built in `_values`.
_COLUMNS = (
    ("at", "timestamptz"),
    ("gate_id", "int"),
    ("zone_id", "int"),
    ("device_id", "int"),
    ("person_id", "int"),
    ("operator_id", "int"),
    ("credential_cid", "text"),
    ("credential_step", "bigint"),
    ("decision", "text"),
    ("reason", "text"),
    ("method", "text"),
    ("direction", "text"),
    ("device_ref", "text"),
    ("device_seq", "bigint"),
    ("latency_ms", "float8"),
    ("payload", "jsonb"),
    ("offline", "bool"),
    ("match_distance", "float8"),
    ("liveness", "bool"),
)
_NAMES = ", ".join(f'"{name}"' for name, _ in _COLUMNS)
_UNNEST = "unnest(" + ", ".join(f"${i + 1}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS)) + ")"
_POSTGRES = f'INSERT INTO "gate_event" ({_NAMES}) SELECT * FROM {_UNNEST} RETURNING "id"'
# The same, taking the commit-order lock in the statement (see the module doc).
_POSTGRES_LOCKED = (
    f"WITH lock AS (SELECT pg_advisory_xact_lock({GATE_EVENT_LOG}) AS locked) "
    f'INSERT INTO "gate_event" ({_NAMES}) SELECT u.* FROM lock CROSS JOIN {_UNNEST} AS u RETURNING "id"'
)
_SQLITE_ROW = "(" + ", ".join("?" for _ in _COLUMNS) + ")"
# The payload as the ORM's JSONField writes it (the same encoder, orjson when installed).
_encode_json = GateEvent._meta.fields_map["payload"].encoder  # type: ignore[attr-defined]


def _values(event: GateEventRecord) -> tuple[Any, ...]:
    person = event.person
    decision = event.reason.decision
    return (
        event.at,
        event.gate.id,
        event.gate.zone_id,
        event.device_id,
        person.id if person is not None else None,
        event.operator_id,
        event.credential_cid,
        event.credential_step,
        decision.value if decision is not None else None,
        event.reason.value,
        event.method.value if event.method is not None else None,
        event.direction.value if event.direction is not None else None,
        event.device_ref,
        event.device_seq,
        event.latency_ms,
        _encode_json(dict(event.payload)),
        event.offline,
        event.match_distance,
        event.liveness,
    )


async def store_batch(events: Sequence[GateEventRecord]) -> list[int]:
    """Insert and commit `events` in one statement (its own transaction); their ids, in order."""
    conn = connections.get("default")
    if isinstance(conn, SqliteClient) and not isinstance(conn, TransactionalDBClient):
        return await _sqlite_store_batch(conn, events)
    return await insert_events(conn, events, own_transaction=True)


_SQLITE_INSERTS: dict[int, str] = {}


def _sqlite_insert(count: int) -> str:
    sql = _SQLITE_INSERTS.get(count)
    if sql is None:
        sql = _SQLITE_INSERTS[count] = f'INSERT INTO "gate_event" ({_NAMES}) VALUES ' + ", ".join([_SQLITE_ROW] * count)
    return sql


def _insert_committed(db: sqlite3.Connection, sql: str, params: list[Any]) -> tuple[int, int]:
    """On the connection's own thread: the statement, committed when it returns (autocommit)."""
    cursor = db.execute(sql, params)
    if db.in_transaction:  # never expected (the client's lock is held): a commit not made is no commit
        db.rollback()
        raise RuntimeError("the gate event insert ran inside an open transaction")
    return cursor.lastrowid or 0, cursor.rowcount


async def _sqlite_store_batch(client: SqliteClient, events: Sequence[GateEventRecord]) -> list[int]:
    """SQLite's batch, on the ORM's own connection and thread (so it serialises with every other
    write exactly as an ORM statement does, under the client's lock), handed to that thread as one
    call rather than as the ORM's query plus RETURNING: a RETURNING statement is stepped once per
    row, and each step gives up the GIL and must take it back from the busy event loop. The ids
    are the last inserted rowid and those before it: one INSERT of n rows draws n consecutive ids
    from AUTOINCREMENT while it holds the write lock (tests/test_event_rows.py reads each back)."""
    rows = [_values(e) for e in events]
    sql = _sqlite_insert(len(rows))
    params = [v for row in rows for v in row]
    async with client.acquire_connection() as db:
        client.log.debug("%s: %s", sql, params)  # as the ORM logs its statements (GATEHOUSE_SQL_LOG)
        try:
            last, count = await db._execute(_insert_committed, db._conn, sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
    if count != len(events):
        raise RuntimeError(f"inserted {count} gate events of {len(events)}")
    return list(range(last - count + 1, last + 1))


async def insert_events(
    conn: BaseDBAsyncClient, events: Sequence[GateEventRecord], own_transaction: bool = False
) -> list[int]:
    """Insert `events` in one statement on `conn`; their ids, in order. In the caller's transaction
    (which took the commit-order lock), or, with `own_transaction`, as a transaction of its own."""
    rows = [_values(e) for e in events]
    if conn.capabilities.dialect == "postgres":
        columns = [list(column) for column in zip(*rows, strict=True)]
        result = await conn.execute_query_dict(_POSTGRES_LOCKED if own_transaction else _POSTGRES, columns)
    else:
        sql = f'INSERT INTO "gate_event" ({_NAMES}) VALUES ' + ", ".join([_SQLITE_ROW] * len(rows)) + ' RETURNING "id"'
        result = await conn.execute_query_dict(sql, [v for row in rows for v in row])
    ids = sorted(int(r["id"]) for r in result)
    if len(ids) != len(events):
        raise RuntimeError(f"inserted {len(ids)} gate events of {len(events)}")
    return ids
