"""A batch of gate events as one INSERT statement, returning their ids.

The event writer commits events in groups (resolvers/scan/event_log.py). `GateEvent.create` per
row built a model instance and ran one statement per event, about three times the cost of one
multi-row INSERT for the whole batch: this writes the same columns, with the values converted the
way Tortoise converts them (an ORM read of a row written here gives the same fields; see
tests/test_gate_event_writer.py), in one statement per batch.

- PostgreSQL: `INSERT ... SELECT * FROM unnest($1::timestamptz[], ...) RETURNING id`, one
  statement text whatever the batch size, so asyncpg's prepared-statement cache always hits.
- SQLite (>= 3.35 for RETURNING): `INSERT ... VALUES (...), (...) RETURNING id`.

Ids are drawn in the order the rows are inserted (the sequence, or SQLite's AUTOINCREMENT, one row
after the other in the order of the VALUES or of the arrays), while RETURNING promises no order:
the ids are sorted, which gives the batch's events their ids in batch order. A duplicate (the
UNIQUE (device_id, device_seq) or (credential_cid, credential_step)) fails the whole statement with
an IntegrityError, and the event log then stores the batch one event at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

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
)
_NAMES = ", ".join(f'"{name}"' for name, _ in _COLUMNS)
_POSTGRES = (
    f'INSERT INTO "gate_event" ({_NAMES}) SELECT * FROM unnest('
    + ", ".join(f"${i + 1}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS))
    + ') RETURNING "id"'
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
    )


async def insert_events(conn: BaseDBAsyncClient, events: Sequence[GateEventRecord]) -> list[int]:
    """Insert `events` in one statement on `conn` (in the caller's transaction); their ids, in order."""
    rows = [_values(e) for e in events]
    if conn.capabilities.dialect == "postgres":
        columns = [list(column) for column in zip(*rows, strict=True)]
        result = await conn.execute_query_dict(_POSTGRES, columns)
    else:
        sql = f'INSERT INTO "gate_event" ({_NAMES}) VALUES ' + ", ".join([_SQLITE_ROW] * len(rows)) + ' RETURNING "id"'
        result = await conn.execute_query_dict(sql, [v for row in rows for v in row])
    ids = sorted(int(r["id"]) for r in result)
    if len(ids) != len(events):
        raise RuntimeError(f"inserted {len(ids)} gate events of {len(events)}")
    return ids
