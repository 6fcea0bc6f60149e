"""What migration 0027 changed on the gate event log, on SQLite and PostgreSQL: the fleet check's
count of every device's last hour and an item check's last carrier at a gate are read through the
time index (a long history must not cost them more), and the device sequence number stays unique
per device now that its index holds the uploads' alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from resolvers.access.topology import GateNode, load_topology
from resolvers.core import clock
from resolvers.core.models import (
    AntiPassback,
    Device,
    DeviceKind,
    Direction,
    EntryMethod,
    GateDirection,
    GateEvent,
    Zone,
)
from resolvers.core.models import Gate as GateRow
from resolvers.devices import fleet
from resolvers.items import gate_checks
from resolvers.scan.event_rows import insert_events
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason
from tests.dialects import database_param, run_on

INDEX = "idx_gate_event_at"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def test_the_fleet_checks_window_is_read_through_the_time_index(database: str) -> None:
    await run_on(database, _window_queries_use_the_index)


async def test_the_item_checks_last_carrier_is_read_through_the_time_index(database: str) -> None:
    await run_on(database, _carrier_query_uses_the_index)


async def test_health_counts_the_window_alone_over_a_long_history(database: str) -> None:
    await run_on(database, _window_alone)


async def test_a_device_sequence_number_is_stored_once_and_online_scans_never_collide(database: str) -> None:
    await run_on(database, _sequence_unique)


async def _plan(sql: str) -> str:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        _, rows = await conn.execute_query("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(tuple(row)) for row in rows)
    async with in_transaction() as tx:
        # An empty table is cheapest to scan whole: forbid that, so the plan shows which index
        # the query can use at all (the one the planner takes once the log has rows).
        await tx.execute_script("SET LOCAL enable_seqscan = off")
        _, rows = await tx.execute_query("EXPLAIN " + sql)
    return "\n".join(str(tuple(row)) for row in rows)


async def _window_queries_use_the_index() -> None:
    now = clock.now()
    page = await _plan(fleet.window_counts(now - timedelta(hours=1), now, [400.0, 800.0]).sql(params_inline=True))
    assert INDEX in page, page


async def _carrier_query_uses_the_index() -> None:
    # Newest first within the window: a gate with no passage lately must not have its history walked.
    plan = await _plan(gate_checks._CARRIER.format("7", "'2026-12-02 10:00:00+00:00'"))
    assert INDEX in plan, plan


async def _gate_and_device() -> tuple[GateNode, Device]:
    zone = await Zone.create(name="北门 Lobby", anti_passback=AntiPassback.OFF)
    gate_row = await GateRow.create(name="北门 in", zone_id=zone.id, direction=GateDirection.IN)
    device = await Device.create(name="Zoë's reader", kind=DeviceKind.QR_SCANNER, secret_hash="x")
    return (await load_topology()).gates[gate_row.id], device


def _scan(
    gate: GateNode, device: Device, minutes_ago: float, reason: Reason, ref: str | None = None, seq: int | None = None
) -> GateEventRecord:
    return GateEventRecord(
        at=clock.now() - timedelta(minutes=minutes_ago),
        gate=gate,
        reason=reason,
        method=EntryMethod.QR,
        direction=Direction.IN,
        device_id=device.id,
        latency_ms=20.0,
        device_ref=ref,
        offline=seq is not None,
        device_seq=seq,
    )


async def _window_alone() -> None:
    gate, device = await _gate_and_device()
    # Two days ago the reader denied everyone; in the last hour it granted five scans.
    old = [_scan(gate, device, 2 * 24 * 60 + i, Reason.UNKNOWN_CREDENTIAL) for i in range(30)]
    recent = [_scan(gate, device, i + 1, Reason.OK) for i in range(5)]
    async with in_transaction() as conn:
        await insert_events(conn, old + recent)

    hour = await fleet.health(device, 60)
    assert (hour.decisions, hour.denied_ratio) == (5, 0.0)
    assert not hour.problems
    three_days = await fleet.health(device, 3 * 24 * 60)
    assert (three_days.decisions, three_days.denied_ratio) == (35, 30 / 35)
    window = await fleet.fleet_window(60)
    assert (window.counted[device.id]["decided"], window.counted[device.id]["denied"]) == (5, 0)
    assert await fleet.fleet_problems([(device.id, DeviceKind.QR_SCANNER)], window) == {}
    # The same history judged over three days: the denials make the reader wanting.
    wide = await fleet.fleet_window(3 * 24 * 60)
    [report] = (await fleet.fleet_problems([(device.id, DeviceKind.QR_SCANNER)], wide)).values()
    assert (report.decisions, report.window_minutes) == (35, 3 * 24 * 60)
    assert any("denied ratio" in problem for problem in report.problems), report.problems


async def _sequence_unique() -> None:
    gate, device = await _gate_and_device()
    online = [_scan(gate, device, 1, Reason.OK, ref=f"r-{i}") for i in range(3)]
    first = _scan(gate, device, 5, Reason.OK, seq=41)
    async with in_transaction() as conn:
        await insert_events(conn, [*online, first])
    again = _scan(gate, device, 4, Reason.OK, seq=41)
    with pytest.raises(Exception) as refused:
        async with in_transaction() as conn:
            await insert_events(conn, [again])
    assert "IntegrityError" in type(refused.value).__name__
    other = await Device.create(name="李娜's reader", kind=DeviceKind.QR_SCANNER, secret_hash="x")
    async with in_transaction() as conn:
        await insert_events(conn, [_scan(gate, other, 4, Reason.OK, seq=41)])
    assert await GateEvent.filter(device_seq=None).count() == 3
    assert await GateEvent.filter(device_seq=41).count() == 2
