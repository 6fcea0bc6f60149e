"""The scan path's one query: a credential and its person, by credential id.

Written as SQL once per dialect rather than built by the ORM on every scan: building the
query cost more than running it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import connections

from resolvers.core.db import read_now

_SELECT = (
    "SELECT c.id, c.person_id, c.public_key, c.period, c.status, c.valid_until, c.kind,"
    " p.status, p.display_name, p.department_id, p.kind, p.position"
    " FROM credential c JOIN person p ON p.id = c.person_id WHERE c.cid = {}"
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
_SQL: dict[str, str] = {}


def _sql(dialect: str) -> str:
    if dialect not in _SQL:
        _SQL[dialect] = _SELECT.format("$1" if dialect == "postgres" else "?")
    return _SQL[dialect]


async def credential_row(cid: str) -> dict[str, Any] | None:
    # On SQLite at once, not queued behind the group commits on the ORM's connection.
    rows = read_now(_sql("sqlite"), (cid,))
    if rows is None:
        conn = connections.get("default")
        _, rows = await conn.execute_query(_sql(conn.capabilities.dialect), [cid])
    if not rows:
        return None
    row = dict(zip(KEYS, tuple(rows[0]), strict=True))
    if isinstance(row["valid_until"], str):  # SQLite keeps datetimes as ISO text
        row["valid_until"] = datetime.fromisoformat(row["valid_until"])
    row["public_key"] = bytes(row["public_key"])
    return row
