"""The fleet check's health queries against a long gate-event history (POLICY 5.2).

    python -m bench.fleet_history [--devices 10000] [--history 1000000] [--hour 20000] [--days 60]
                                  [--backends sqlite,postgres] [--repeat 3]

The fleet check (resolvers/devices/fleet.py `check_fleet`) runs every GATEHOUSE_UPKEEP_SECONDS
(30 s) on the leading worker and judges every device's last hour. Its queries must cost the same
whatever the length of the site's history: a site that has kept two months of events must not pay
for them every 30 s. This measures what they cost beside such a history.

For each backend, in a child process of its own (Tortoise keeps per-dialect query state in
the models, so one process talks to one kind of database):

1. seed a fresh database (not measured; its time is printed): one zone, one IN gate,
   `--devices` QR scanners in service, then `--history` gate events spread uniformly at random
   over the last `--days` days and `--hour` more within the last 59 minutes, each on a random
   device (GRANTED, reason ok, method QR, direction IN, latency 5-40 ms), written by the event
   log's own statement (`resolvers.scan.event_rows.insert_events`) 5,000 at a time;
2. time, each `--repeat` times (the first run is cold: nothing cached by the ORM or the
   database yet), wall-clock and this process's CPU:
   a. the fleet check's health step as `check_fleet` takes it: the window's decisions counted
      once (`fleet_window`), then `fleet_problems` for every page of HEALTH_PAGE devices, paged
      by id;
   b. one device's `health` over 60 minutes (the deviceHealth query's default window);
   c. the same over 7 days (that query's longest window).

Prints a table (seconds: first run, median and best run; this process's CPU seconds, median run)
and writes the same figures to var/fleet-history-bench.json. PostgreSQL runs on a fresh database
on 127.0.0.1:5432 (user postgres) and is skipped, with a note, when it does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.attendance_bench import child_figures, each_backend, parse_with_backends, write_report

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT / "var" / "fleet-history-bench.json"
BATCH = 5000
WEEK_MINUTES = 7 * 24 * 60
CHILD_TIMEOUT = 3 * 3600  # a million events on a busy two-core machine took minutes, not seconds

Measured = Callable[[], Awaitable[int]]


# --- the child: one backend ------------------------------------------------------------------


async def seed(devices: int, history: int, hour: int, days: int) -> dict[str, Any]:
    from tortoise.transactions import in_transaction

    from resolvers.access.topology import GateNode
    from resolvers.core.models import (
        Device,
        DeviceKind,
        DeviceStatus,
        Direction,
        EntryMethod,
        Gate,
        GateDirection,
        Zone,
    )
    from resolvers.scan.event_rows import insert_events
    from resolvers.scan.gate_event import GateEventRecord
    from resolvers.scan.reasons import Reason

    started = time.perf_counter()
    zone = await Zone.create(name="Bench site")
    gate = await Gate.create(name="Bench scanner gate", zone=zone, direction=GateDirection.IN)
    node = GateNode(gate.id, gate.name, zone.id, GateDirection.IN)
    device_ids = list(range(1, devices + 1))  # explicit ids: SQLite's bulk insert does not hand them back
    await Device.bulk_create(
        [
            Device(
                id=device_id,
                name=f"Bench scanner {device_id}",
                kind=DeviceKind.QR_SCANNER,
                secret_hash="0" * 64,
                status=DeviceStatus.IN_SERVICE,
            )
            for device_id in device_ids
        ],
        batch_size=BATCH,
    )
    devices_seconds = time.perf_counter() - started
    rng = random.Random(20260301)

    async def insert(times: list[datetime]) -> None:
        for start in range(0, len(times), BATCH):
            records = [
                GateEventRecord(
                    at=at,
                    gate=node,
                    reason=Reason.OK,
                    method=EntryMethod.QR,
                    direction=Direction.IN,
                    device_id=rng.choice(device_ids),
                    latency_ms=rng.uniform(5.0, 40.0),
                )
                for at in times[start : start + BATCH]
            ]
            async with in_transaction() as conn:  # the caller's transaction, as the event log's batches are
                await insert_events(conn, records)

    # In time order, as the event log writes them: ids (SQLite's rowid order, PostgreSQL's heap)
    # follow time, so a window's rows lie together as they do on a real site.
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    span = days * 86400.0
    await insert(
        [now - timedelta(seconds=s) for s in sorted((rng.uniform(0.0, span) for _ in range(history)), reverse=True)]
    )
    history_seconds = time.perf_counter() - t0
    # The hour's events last and against a fresh `now`: seeding the history takes minutes, and
    # timed from before it they would have slid out of the 60-minute window before it is read.
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    await insert(
        [now - timedelta(seconds=s) for s in sorted((rng.uniform(0.0, 59 * 60.0) for _ in range(hour)), reverse=True)]
    )
    hour_seconds = time.perf_counter() - t0
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "devices_seconds": round(devices_seconds, 1),
        "history_seconds": round(history_seconds, 1),
        "hour_seconds": round(hour_seconds, 1),
        "devices": devices,
        "history": history,
        "hour": hour,
        "days": days,
        "events": history + hour,
        "device": device_ids[len(device_ids) // 2],
    }


async def timed(label: str, repeat: int, fn: Measured, results: list[dict[str, Any]]) -> None:
    times: list[float] = []
    cpu: list[float] = []
    count = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        count = await fn()
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
    results.append(
        {
            "step": label,
            "first": times[0],
            "best": min(times),
            "median": statistics.median(times),
            "cpu_median": statistics.median(cpu),
            "times": times,
            "cpu": cpu,
            "counted": count,
        }
    )


async def run_backend(
    database_url: str, devices: int, history: int, hour: int, days: int, repeat: int
) -> dict[str, Any]:
    from resolvers.core import db
    from resolvers.core.models import Device, DeviceKind, DeviceStatus
    from resolvers.devices.fleet import HEALTH_PAGE, FleetWindow, Health, fleet_problems, fleet_window, health

    await db.start(database_url)
    try:
        seeded = await seed(devices, history, hour, days)
        print(
            f"  seeded {seeded['devices']:,} devices in {seeded['devices_seconds']} s, "
            f"{seeded['history']:,} events over {days} days in {seeded['history_seconds']} s, "
            f"{seeded['hour']:,} in the last hour in {seeded['hour_seconds']} s "
            f"({seeded['seconds']} s in all, not measured)",
            file=sys.stderr,
            flush=True,
        )
        device = await Device.get(id=seeded["device"])
        results: list[dict[str, Any]] = []
        reports: dict[int, Health] = {}
        found: dict[int, Health] = {}

        async def fleet_health() -> int:
            nonlocal reports
            reports = {}
            judged, after = 0, 0
            window: FleetWindow | None = None
            while True:
                page = [
                    (device_id, DeviceKind(kind))
                    for device_id, kind in await Device.filter(status=DeviceStatus.IN_SERVICE, id__gt=after)
                    .order_by("id")
                    .limit(HEALTH_PAGE)
                    .values_list("id", "kind")
                ]
                if not page:
                    return judged
                after = page[-1][0]
                judged += len(page)
                if window is None:
                    window = await fleet_window()
                reports.update(await fleet_problems(page, window))

        def one_device(minutes: int) -> Measured:
            async def measure() -> int:
                found[minutes] = await health(device, minutes)
                return found[minutes].decisions

            return measure

        await timed("a. fleet check health, all devices", repeat, fleet_health, results)
        await timed("b. one device's health, 60 min", repeat, one_device(60), results)
        await timed("c. one device's health, 7 days", repeat, one_device(WEEK_MINUTES), results)

        # Sanity: every device judged, none wanting (latencies of 5-40 ms, none denied, no samples:
        # within the default targets), so the step is the window's count and a samples query per page.
        assert results[0]["counted"] == devices
        assert not reports, f"{len(reports)} devices found wanting"
        assert found[60].decisions <= found[WEEK_MINUTES].decisions
        assert not found[WEEK_MINUTES].problems
        return {"seed": seeded, "results": results}
    finally:
        await db.close()


def child_main(args: argparse.Namespace) -> None:
    out = asyncio.run(run_backend(args.database_url, args.devices, args.history, args.hour, args.days, args.repeat))
    print(json.dumps(out))


# --- the parent: one child per backend, then the table ----------------------------------------


OPTIONS = ("devices", "history", "hour", "days", "repeat")  # passed on to the child


def run_child(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    options = [part for option in OPTIONS for part in (f"--{option}", str(getattr(args, option)))]
    return child_figures("bench.fleet_history", database_url, options, CHILD_TIMEOUT)


def print_table(backend: str, data: dict[str, Any]) -> None:
    seeded = data["seed"]
    print(
        f"\n{backend}: {seeded['devices']:,} devices, {seeded['history']:,} events over {seeded['days']} days "
        f"+ {seeded['hour']:,} in the last hour ({seeded['events']:,} gate events; seeded in {seeded['seconds']} s)"
    )
    print(f"  {'step':<36} {'first s':>9} {'median s':>9} {'best s':>9} {'CPU s':>9} {'counted':>9}")
    for r in data["results"]:
        print(
            f"  {r['step']:<36} {r['first']:>9.3f} {r['median']:>9.3f} {r['best']:>9.3f} "
            f"{r['cpu_median']:>9.3f} {r['counted']:>9,}"
        )


FOOTNOTE = """
CPU s: this process's CPU (time.process_time, median run). SQLite runs inside this process (the
ORM's connection thread), so its work is counted; PostgreSQL's is in the server's processes and is
not. counted: a. devices judged; b., c. decisions in the device's window."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=1_000_000, help="events over the last --days days")
    parser.add_argument("--hour", type=int, default=20_000, help="more events within the last 59 minutes")
    parser.add_argument("--days", type=int, default=60)
    args = parse_with_backends(parser)
    if args.database_url:
        child_main(args)
        return

    started = time.perf_counter()
    figures = each_backend(args.backends, "gatehouse-fleet-history-", lambda url: run_child(url, args), print_table)
    report = {option: getattr(args, option) for option in OPTIONS} | {"backends": figures}
    print(FOOTNOTE)
    write_report(RESULTS_FILE, report, started)


if __name__ == "__main__":
    main()
