"""Attendance report and event-log queries over a month of a large site (POLICY 2.3, 6.2).

    python -m bench.attendance_bench [--employees 5000] [--backends sqlite,postgres] [--repeat 3]
                                     [--profile]

For each backend, in a child process of its own (Tortoise keeps per-dialect query state in
the models, so one process talks to one kind of database):

1. seed a fresh database through the ORM (not measured): one root zone with an IN and an
   OUT gate, 20 departments sharing a Monday-Friday 09:00-18:00 schedule, `--employees`
   employees, and an IN/OUT pair (GRANTED, method QR, the root zone) for every employee on
   every workday of February 2026 (20 workdays: 200,000 passages for 5,000 people), with
   arrival and departure times spread around the shift's ends and about 3 % absences;
2. time, each `--repeat` times (the first run is cold: nothing cached by the ORM or the
   database yet):
   a. the monthly attendance report: `resolvers.attendance.days_for` for every employee over
      the month, then `summarise` per person (what attendanceReport and attendance.csv do);
   b. event queries: `resolvers.event_queries.events_page` (first 100, newest first) for one
      person, and for the root zone; and entries per department over the month (one
      grouped count).

Prints a table (seconds: first run, median and best run; rows returned) and writes the same figures
to var/attendance-bench.json. PostgreSQL runs on a fresh database on 127.0.0.1:5432 (user
postgres) and is skipped, with a note, when it does not answer. `--profile` prints where
the time of the report step goes (cProfile, top functions by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT / "var" / "attendance-bench.json"
POSTGRES_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
FIRST, LAST = date(2026, 2, 1), date(2026, 2, 28)  # February 2026: 20 workdays
DEPARTMENTS = 20
ABSENT_SHARE = 0.03
BATCH = 5000


def workdays(first: date, last: date) -> list[date]:
    out, day = [], first
    while day <= last:
        if day.isoweekday() <= 5:
            out.append(day)
        day += timedelta(days=1)
    return out


# --- the child: one backend ------------------------------------------------------------------


async def seed(employees: int) -> dict[str, Any]:
    from resolvers.core.models import (
        AntiPassback,
        Decision,
        Department,
        Direction,
        EntryMethod,
        Gate,
        GateDirection,
        GateEvent,
        Person,
        PersonKind,
        PersonStatus,
        WorkSchedule,
        Zone,
    )

    started = time.perf_counter()
    zone = await Zone.create(name="Bench site", anti_passback=AntiPassback.OFF)
    gate_in = await Gate.create(name="Bench turnstile in", zone=zone, direction=GateDirection.IN)
    gate_out = await Gate.create(name="Bench turnstile out", zone=zone, direction=GateDirection.OUT)
    schedule = await WorkSchedule.create(
        name="Office hours", weekdays=[1, 2, 3, 4, 5], start="09:00", end="18:00", grace_minutes=5
    )
    departments = [
        await Department.create(name=f"Bench department {i + 1}", work_schedule_id=schedule.id)
        for i in range(DEPARTMENTS)
    ]
    first_id = 1_000_000  # explicit ids: SQLite's bulk insert does not hand them back
    person_ids = [first_id + i for i in range(employees)]
    await Person.bulk_create(
        [
            Person(
                id=pid,
                kind=PersonKind.EMPLOYEE,
                display_name=f"Bench Person {i + 1}",
                department_id=departments[i % DEPARTMENTS].id,
                roles=["EMPLOYEE"],
                status=PersonStatus.ACTIVE,
            )
            for i, pid in enumerate(person_ids)
        ],
        batch_size=BATCH,
    )
    rng = random.Random(20260201)
    rows: list[Any] = []
    passages = 0
    # What the report must find, worked out from the seed itself (checked after timing).
    inside, late, left_early = timedelta(), 0, 0
    for day in workdays(FIRST, LAST):
        for pid in person_ids:
            if rng.random() < ABSENT_SHARE:
                continue
            arrive = datetime.combine(day, dtime(8, 30), tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3600))
            leave = datetime.combine(day, dtime(17, 30), tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3600))
            inside += leave - arrive
            late += arrive > datetime.combine(day, dtime(9, 5), tzinfo=UTC)
            left_early += leave < datetime.combine(day, dtime(17, 55), tzinfo=UTC)
            for at, gate, way in ((arrive, gate_in, Direction.IN), (leave, gate_out, Direction.OUT)):
                rows.append(
                    GateEvent(
                        at=at,
                        gate_id=gate.id,
                        zone_id=zone.id,
                        person_id=pid,
                        decision=Decision.GRANTED,
                        reason="ok",
                        method=EntryMethod.QR,
                        direction=way,
                    )
                )
            if len(rows) >= BATCH:
                await GateEvent.bulk_create(rows, batch_size=BATCH)
                passages += len(rows)
                rows = []
    if rows:
        await GateEvent.bulk_create(rows, batch_size=BATCH)
        passages += len(rows)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "employees": employees,
        "passages": passages,
        "zone": zone.id,
        "person": person_ids[len(person_ids) // 2],
        "inside_seconds": inside.total_seconds(),
        "late": late,
        "left_early": left_early,
    }


async def timed(label: str, repeat: int, fn: Any, results: list[dict[str, Any]]) -> Any:
    times: list[float] = []
    value: Any = None
    rows = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        value, rows = await fn()
        times.append(time.perf_counter() - t0)
    results.append(
        {"step": label, "first": times[0], "best": min(times), "median": statistics.median(times), "rows": rows}
    )
    return value


async def run_backend(database_url: str, employees: int, repeat: int, profile: bool) -> dict[str, Any]:
    from tortoise.functions import Count

    from resolvers.attendance import attendance
    from resolvers.core import db
    from resolvers.core.models import Decision, GateEvent
    from resolvers.core.settings import Settings
    from resolvers.runtime import Runtime
    from resolvers.scan.event_queries import events_page

    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-attendance-bench-"))
    settings = Settings.from_env(
        {
            "GATEHOUSE_DATABASE_URL": database_url,
            "GATEHOUSE_KEY_FILE": str(tmp / "bench.key"),
            "GATEHOUSE_TIME_ZONE": "UTC",
        }
    )
    rt = Runtime.create(settings)  # not started: days_for reads rt.settings and rt.topology only
    await db.start(database_url)
    try:
        seeded = await seed(employees)
        print(
            f"  seeded {seeded['employees']:,} employees and {seeded['passages']:,} passages "
            f"in {seeded['seconds']} s (not measured)",
            file=sys.stderr,
        )
        results: list[dict[str, Any]] = []
        start = datetime.combine(FIRST, dtime.min, tzinfo=UTC)
        end = datetime.combine(LAST + timedelta(days=1), dtime.min, tzinfo=UTC)
        days: dict[int, list[attendance.AttendanceDay]] = {}

        async def report_days() -> tuple[Any, int]:
            nonlocal days
            days = await attendance.days_for(rt, None, FIRST, LAST)
            return days, sum(len(d) for d in days.values())

        async def report_summaries() -> tuple[Any, int]:
            lines = [attendance.summarise(pid, rows) for pid, rows in days.items()]
            return lines, len(lines)

        async def report_total() -> tuple[Any, int]:
            got = await attendance.days_for(rt, None, FIRST, LAST)
            lines = [attendance.summarise(pid, rows) for pid, rows in got.items()]
            return lines, len(lines)

        async def by_person() -> tuple[Any, int]:
            page = await events_page(100, None, person_id=seeded["person"])
            return page, len(page)

        async def by_zone() -> tuple[Any, int]:
            page = await events_page(100, None, zone_ids={seeded["zone"]})
            return page, len(page)

        async def by_department() -> tuple[Any, int]:
            counts = (
                await GateEvent.filter(decision=Decision.GRANTED, direction="IN", at__gte=start, at__lt=end)
                .annotate(entries=Count("id"))
                .group_by("person__department_id")
                .values("person__department_id", "entries")
            )
            return counts, len(counts)

        await timed("a. days_for, all employees, 1 month", repeat, report_days, results)
        summaries = await timed("a. summarise per person", repeat, report_summaries, results)
        await timed("a. report total (days_for + summarise)", repeat, report_total, results)
        person_page = await timed("b. events_page first 100, one person", repeat, by_person, results)
        zone_page = await timed("b. events_page first 100, root zone", repeat, by_zone, results)
        counts = await timed("b. entries per department, 1 month", repeat, by_department, results)

        # Sanity: the figures are what the seed says.
        assert len(summaries) == employees
        assert sum(s.workdays for s in summaries) == employees * len(workdays(FIRST, LAST))
        assert sum(s.present for s in summaries) == seeded["passages"] // 2
        assert sum(s.late for s in summaries) == seeded["late"]
        assert sum(s.left_early for s in summaries) == seeded["left_early"]
        assert sum(d.inside.total_seconds() for rows in days.values() for d in rows) == seeded["inside_seconds"]
        assert not any(d.missing_exit or d.flags for rows in days.values() for d in rows)
        assert 0 < len(person_page) <= 2 * len(workdays(FIRST, LAST))  # one person's month: all of it
        assert len(zone_page) == 101  # a page and the row that says there is a next one
        assert sum(c["entries"] for c in counts) == seeded["passages"] // 2
        assert len(counts) == DEPARTMENTS

        profile_text = ""
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await attendance.days_for(rt, None, FIRST, LAST)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            profile_text = out.getvalue()
        return {"seed": seeded, "results": results, "profile": profile_text}
    finally:
        await db.close()
        shutil.rmtree(tmp, ignore_errors=True)


def child_main(args: argparse.Namespace) -> None:
    out = asyncio.run(run_backend(args.database_url, args.employees, args.repeat, args.profile))
    print(json.dumps(out))


# --- the parent: one child per backend, then the table ----------------------------------------


def reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def create_postgres_database() -> str:
    import uuid

    import asyncpg

    name = "gh_bench_" + uuid.uuid4().hex[:10]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def each_backend(
    backends: str,
    tmp_prefix: str,
    run: Callable[[str], dict[str, Any]],
    show: Callable[[str, dict[str, Any]], None],
) -> dict[str, Any]:
    """`run` (a child process's figures) on a fresh database of each of the comma-separated
    `backends`: a SQLite file in a temporary folder, a PostgreSQL database created for the run and
    dropped after it (skipped, with a note, when nothing answers on 127.0.0.1:5432); `show` prints
    each backend's figures as they come."""
    out: dict[str, Any] = {}
    for backend in [b.strip() for b in backends.split(",") if b.strip()]:
        print(f"{backend}: seeding and measuring ...", flush=True)
        if backend == "sqlite":
            tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix))
            try:
                data = run(f"sqlite://{tmp / 'bench.sqlite3'}")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        elif backend == "postgres":
            if not reachable("127.0.0.1", 5432):
                print("\npostgres: skipped, nothing answers on 127.0.0.1:5432", flush=True)
                out["postgres"] = {"skipped": "not reachable on 127.0.0.1:5432"}
                continue
            url = asyncio.run(create_postgres_database())
            try:
                data = run(url)
            finally:
                asyncio.run(drop_postgres_database(url))
        else:
            raise SystemExit(f"unknown backend {backend!r} (sqlite, postgres)")
        out[backend] = data
        show(backend, data)
    return out


def parse_with_backends(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with the options every per-backend bench has: --backends, --repeat and the
    hidden --child DATABASE_URL its parent passes to the child it starts per backend."""
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", metavar="DATABASE_URL", dest="database_url", help=argparse.SUPPRESS)
    return parser.parse_args()


def write_report(path: Path, report: dict[str, Any], started: float) -> None:
    """The run's length and the machine's load said, the figures written to `path` (var/)."""
    print(f"\nwhole run {time.perf_counter() - started:.0f} s; machine load average {os.getloadavg()[0]:.1f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))


def child_figures(module: str, database_url: str, options: list[str], timeout: float = 600) -> dict[str, Any]:
    """The figures a bench's child (`python -m module --child URL ...`) prints as its last line."""
    cmd = [sys.executable, "-m", module, "--child", database_url, *options]
    proc = subprocess.run(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child for {database_url.split(':', 1)[0]} failed")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_child(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    options = ["--employees", str(args.employees), "--repeat", str(args.repeat)]
    return child_figures("bench.attendance_bench", database_url, options + (["--profile"] if args.profile else []))


def print_table(backend: str, data: dict[str, Any]) -> None:
    seeded = data["seed"]
    print(f"\n{backend}: {seeded['employees']:,} employees, {seeded['passages']:,} passages, {FIRST:%B %Y}")
    print(f"  {'step':<42} {'first s':>9} {'median s':>9} {'best s':>9} {'rows':>9}")
    for r in data["results"]:
        print(f"  {r['step']:<42} {r['first']:>9.3f} {r['median']:>9.3f} {r['best']:>9.3f} {r['rows']:>9,}")
    if data.get("profile"):
        print(f"\n  cProfile of days_for on {backend} (top 30 by cumulative time):")
        print("\n".join("    " + line for line in data["profile"].splitlines() if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of days_for")
    args = parse_with_backends(parser)
    if args.database_url:
        child_main(args)
        return

    started = time.perf_counter()
    figures = each_backend(args.backends, "gatehouse-attendance-bench-", lambda url: run_child(url, args), print_table)
    report = {"month": f"{FIRST:%Y-%m}", "employees": args.employees, "backends": figures}
    write_report(RESULTS_FILE, report, started)


if __name__ == "__main__":
    main()
