"""The event log's one-statement batch insert (resolvers/scan/event_rows.py) writes exactly the row
`GateEvent.create` writes, on SQLite and on PostgreSQL, and gives a batch's events their ids in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from realtime.messages import PersonRef
from resolvers.access.topology import load_topology
from resolvers.core import clock
from resolvers.core.commit_order import GATE_EVENT_LOG
from resolvers.core.models import (
    AntiPassback,
    Device,
    DeviceKind,
    Direction,
    EntryMethod,
    GateDirection,
    GateEvent,
    Person,
    Zone,
)
from resolvers.core.models import Gate as GateRow
from resolvers.scan.event_rows import insert_events, store_batch
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason
from tests import dialects
from tests.dialects import database_param, run_on
from tests.harness import eventually


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def _events() -> list[GateEventRecord]:
    zone = await Zone.create(name="Lobby", anti_passback=AntiPassback.OFF)
    gate_row = await GateRow.create(name="Lobby in", zone_id=zone.id, direction=GateDirection.IN)
    device = await Device.create(name="Lobby reader", kind=DeviceKind.QR_SCANNER, secret_hash="x")
    alice = await Person.create(display_name="Alice Li", roles=["EMPLOYEE"])
    gate = (await load_topology()).gates[gate_row.id]
    now = clock.now()
    granted = GateEventRecord(
        at=now,
        gate=gate,
        reason=Reason.OK,
        method=EntryMethod.QR,
        direction=Direction.IN,
        person=PersonRef(alice.id, "Alice Li"),
        device_id=device.id,
        credential_cid="c" * 16,
        device_ref="r-1",
        latency_ms=1.25,
        payload={"step": 123, "note": "é «x»"},
        credential_step=123,
    )
    uploaded = GateEventRecord(
        at=now - timedelta(minutes=3),
        gate=gate,
        reason=Reason.BAD_SIGNATURE,
        method=EntryMethod.QR,
        direction=Direction.IN,
        device_id=device.id,
        credential_cid="d" * 16,
        offline=True,
        device_seq=7,
    )
    alarm = GateEventRecord(at=now, gate=gate, reason=Reason.FORCED, device_id=device.id, payload={})
    return [granted, uploaded, alarm]


def _row(event: GateEvent) -> dict[str, Any]:
    fields = dict(event.__dict__)
    return {k: v for k, v in fields.items() if not k.startswith("_") and k != "id"}


async def test_a_batch_is_stored_as_the_orm_stores_each_event(database: str) -> None:
    await run_on(database, _same_rows)


async def test_a_duplicate_fails_the_whole_batch(database: str) -> None:
    await run_on(database, _duplicate_fails_all)


async def test_a_batch_on_postgres_draws_its_ids_only_once_it_holds_the_commit_order_lock(
    require_postgres: None,
) -> None:
    await run_on("postgres", _waits_for_the_lock)


async def _same_rows() -> None:
    events = await _events()
    ids = await store_batch(events)  # as the event log stores a batch: one statement, committed
    assert ids == sorted(ids) and len(set(ids)) == 3
    for event, event_id in zip(events, ids, strict=True):
        batch = await GateEvent.get(id=event_id)
        # The same event through the ORM, the unique keys moved aside so it may be stored twice.
        row = event.row()
        if row["credential_step"] is not None:
            row["credential_step"] += 1000
        if row["device_seq"] is not None:
            row["device_seq"] += 1000
        orm = await GateEvent.get(id=(await GateEvent.create(**row)).id)
        expected = _row(orm)
        if event.credential_step is not None:
            expected["credential_step"] -= 1000
        if event.device_seq is not None:
            expected["device_seq"] -= 1000
        assert _row(batch) == expected
        assert batch.reason == event.reason.value and batch.person_id == event.person_id
    # The raw text too: a reader with plain SQL sees the same values either way.
    conn = connections.get("default")
    _, raw = await conn.execute_query('SELECT "at", "payload", "offline" FROM "gate_event" ORDER BY "id"')
    raw = [tuple(r) for r in raw]
    assert raw[0] == raw[3] and raw[1] == raw[4] and raw[2] == raw[5]


async def _duplicate_fails_all() -> None:
    events = await _events()
    async with in_transaction() as conn:
        await insert_events(conn, events[:1])
    with pytest.raises(Exception) as failed:
        await store_batch(events)
    assert "IntegrityError" in type(failed.value).__name__
    assert await GateEvent.all().count() == 1


async def _waits_for_the_lock() -> None:
    """Another writer holds the gate event log's lock: the batch statement waits for it before any
    id is drawn, so its ids come after the other writer's (resolvers/core/commit_order.py)."""
    import asyncpg

    events = await _events()
    waiting = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1"
    other = await asyncpg.connect(dialects.postgres_url[0].replace("postgres://", "postgresql://", 1))
    try:
        async with other.transaction():  # another process's writer, in its transaction
            await other.execute("SELECT pg_advisory_xact_lock($1)", GATE_EVENT_LOG)
            batch = asyncio.create_task(store_batch(events[:2]))

            async def blocked() -> bool:
                rows = await connections.get("default").execute_query_dict(waiting, [GATE_EVENT_LOG])
                return int(rows[0]["n"]) == 1

            await eventually(blocked, 10, "the batch to wait for the commit-order lock")
            assert not batch.done()
            earlier = await other.fetchval(
                'INSERT INTO "gate_event" ("at", "gate_id", "zone_id", "reason", "payload", "offline")'
                " VALUES (now(), $1, $2, 'forced', '{}', false) RETURNING id",
                events[0].gate.id,
                events[0].gate.zone_id,
            )
        ids = await asyncio.wait_for(batch, 10)
    finally:
        await other.close()
    assert min(ids) > earlier, "ids drawn before the lock was held"
