"""The scan path's one query: a credential and its person, by credential id.

Written as SQL once per dialect rather than built by the ORM on every scan: building the
query cost more than running it. The scans that ask in the same turn of the event loop share
one query (`cid = ANY(...)`, `IN (...)` on SQLite): at the rush a hundred scans arrive between
two turns, and each query's own cost (a pooled connection, the driver's round trip, Tortoise's
wrapping: about a tenth of a PostgreSQL scan's CPU, issue 13) is then paid once for all of them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from tortoise import connections

from resolvers.core.db import read_now

_SELECT = (
    "SELECT c.cid, c.id, c.person_id, c.public_key, c.period, c.status, c.valid_until, c.kind,"
    " p.status, p.display_name, p.department_id, p.kind, p.position"
    " FROM credential c JOIN person p ON p.id = c.person_id WHERE c.cid {}"
)
KEYS = (
    "id",
    "person_id",
    "public_key",
    "period",
    "status",
    "valid_until",
    "kind",
    "person__status",
    "person__display_name",
    "person__department_id",
    "person__kind",
    "person__position",
)
# One query names at most this many credentials (SQLite's limit on parameters is far above it).
MAX_BATCH = 500
_POSTGRES = _SELECT.format("= ANY($1::text[])")

# The credentials asked for since the last query was sent, each with the futures of its askers.
_asked: dict[str, list[asyncio.Future[dict[str, Any] | None]]] = {}


async def credential_row(cid: str) -> dict[str, Any] | None:
    future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
    if not _asked:
        asyncio.get_running_loop().call_soon(_send)
    _asked.setdefault(cid, []).append(future)
    return await future


def _send() -> None:
    asked = dict(_asked)
    _asked.clear()
    cids = list(asked)
    for start in range(0, len(cids), MAX_BATCH):
        chunk = {cid: asked[cid] for cid in cids[start : start + MAX_BATCH]}
        # The query's task keeps the caller's context (the default connection is looked up in it).
        task = asyncio.ensure_future(_answer(chunk))
        _running.add(task)
        task.add_done_callback(_running.discard)


_running: set[asyncio.Future[None]] = set()
# How many queries were sent (tests check that a turn's look-ups share one).
queries_sent = 0


async def _answer(asked: dict[str, list[asyncio.Future[dict[str, Any] | None]]]) -> None:
    try:
        rows = await _rows(list(asked))
    except Exception as exc:
        for futures in asked.values():
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
        return
    except BaseException:
        for futures in asked.values():
            for future in futures:
                future.cancel()
        raise
    for cid, futures in asked.items():
        row = rows.get(cid)
        for i, future in enumerate(futures):
            if not future.done():
                # Each asker gets its own dict (the scan path reads it only, but owns it).
                future.set_result(row if i == 0 or row is None else dict(row))


async def _rows(cids: list[str]) -> dict[str, dict[str, Any]]:
    global queries_sent
    queries_sent += 1
    in_list = _SELECT.format("IN (" + ", ".join("?" * len(cids)) + ")")
    # On SQLite at once (a read-only connection of its own), not queued behind the group commits
    # on the ORM's connection; None on PostgreSQL or while the file is busy.
    rows = read_now(in_list, cids)
    if rows is None:
        conn = connections.get("default")
        if conn.capabilities.dialect == "postgres":
            _, rows = await conn.execute_query(_POSTGRES, [cids])
        else:
            _, rows = await conn.execute_query(in_list, cids)
    out: dict[str, dict[str, Any]] = {}
    for record in rows:
        values = tuple(record)
        row = dict(zip(KEYS, values[1:], strict=True))
        if isinstance(row["valid_until"], str):  # SQLite keeps datetimes as ISO text
            row["valid_until"] = datetime.fromisoformat(row["valid_until"])
        row["public_key"] = bytes(row["public_key"])
        out[values[0]] = row
    return out
