"""The monthly report's days summed up in SQL (resolvers/attendance/day_tallies.py, issue 13)
give exactly what the rules give over the raw passages (`compute_days`, the straightforward
reference): on SQLite and on PostgreSQL, in a site time zone with daylight saving time.

The data set is built to be awkward: Europe/Berlin over both DST changes of 2026 (a night
without 02:00–03:00, one with it twice); a day shift, a night shift crossing midnight, a
shift starting at midnight, a shift whose day begins at 02:30 (inside both DST changes), a
department without a schedule, a person with a schedule of their own; passages at random
times with random directions (duplicate entries, exits first, days ending inside, ties in
time, microseconds, passages exactly on a day's first instant); denied passages, passages
through an inner zone and door events (none of which count); corrections, several on one
day, on days off and on absent days; a person with no passage and a visitor with many.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from resolvers.attendance import attendance, day_tallies
from resolvers.core import db
from resolvers.core.models import (
    AttendanceCorrection,
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
from resolvers.core.settings import Settings
from resolvers.runtime import Runtime

PROJECT = Path(__file__).resolve().parent.parent
TZ_NAME = "Europe/Berlin"
TZ = ZoneInfo(TZ_NAME)
SPRING = (date(2026, 3, 23), date(2026, 4, 5))  # clocks go forward on Sunday 29 March
AUTUMN = (date(2026, 10, 19), date(2026, 11, 1))  # and back on Sunday 25 October
SHIFTS = {  # name: (weekdays, start, end)
    "day": ([1, 2, 3, 4, 5], "09:00", "18:00"),
    "night": ([1, 2, 3, 4, 5], "22:00", "06:00"),
    "midnight": ([2, 3, 4, 5, 6], "00:00", "08:00"),
    "two-thirty": ([1, 2, 3, 4, 5, 6, 7], "10:00", "19:00"),  # its days begin at 02:30
}


def local(day: date, minutes: int, fold: int = 0) -> datetime:
    """`minutes` after the local midnight of `day` (may be negative or past a day), in UTC."""
    wall = datetime.combine(day, time.min) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=TZ, fold=fold).astimezone(UTC)


def day_starts(first: date, last: date) -> list[datetime]:
    """Instants on which some shift's day begins (the first instant of an attendance day)."""
    out = []
    for i in range(-1, (last - first).days + 2):
        d = first + timedelta(days=i)
        for begins in (0, 90, 150, 840, -480):
            out.append(local(d, begins))
    return out


async def seed(rng: random.Random) -> dict[str, Any]:
    site = await Zone.create(name="Site")
    inner = await Zone.create(name="Lab", parent_id=site.id)
    gates = {
        "in": await Gate.create(name="Site in", zone=site, direction=GateDirection.IN),
        "out": await Gate.create(name="Site out", zone=site, direction=GateDirection.OUT),
        "lab": await Gate.create(name="Lab in", zone=inner, direction=GateDirection.IN),
    }
    schedules = {
        name: await WorkSchedule.create(name=name, weekdays=wd, start=s, end=e, grace_minutes=5)
        for name, (wd, s, e) in SHIFTS.items()
    }
    departments = {
        "office": await Department.create(name="Office", work_schedule_id=schedules["day"].id),
        "plant": await Department.create(name="Plant", work_schedule_id=schedules["night"].id),
        "new": await Department.create(name="New hires"),  # no schedule
    }
    staff = [
        ("office", None),
        ("office", None),
        ("office", "midnight"),  # a schedule of their own
        ("plant", None),
        ("plant", None),
        ("plant", "two-thirty"),
        ("new", None),
        ("new", None),
        ("office", "two-thirty"),
    ]
    people = []
    for i, (dept, own) in enumerate(staff):
        people.append(
            await Person.create(
                kind=PersonKind.EMPLOYEE,
                display_name=f"Person {i}",
                department_id=departments[dept].id,
                work_schedule_id=schedules[own].id if own else None,
                roles=["EMPLOYEE"],
                status=PersonStatus.ACTIVE,
            )
        )
    idle = await Person.create(  # no passage at all
        kind=PersonKind.EMPLOYEE,
        display_name="Never came",
        department_id=departments["office"].id,
        roles=["EMPLOYEE"],
        status=PersonStatus.ACTIVE,
    )
    visitor = await Person.create(kind=PersonKind.VISITOR, display_name="A visitor", status=PersonStatus.ACTIVE)

    rows: list[GateEvent] = []

    def event(pid: int | None, at: datetime, way: Direction | None, **kw: Any) -> None:
        gate = gates["lab"] if kw.pop("lab", False) else gates["in" if way == Direction.IN else "out"]
        rows.append(
            GateEvent(
                at=at.astimezone(UTC),
                gate_id=gate.id,
                zone_id=gate.zone_id,  # type: ignore[attr-defined]
                person_id=pid,
                decision=kw.pop("decision", Decision.GRANTED),
                reason="ok",
                method=rng.choice([EntryMethod.QR, EntryMethod.MANUAL, EntryMethod.FACE]),
                direction=way,
            )
        )

    starts = day_starts(SPRING[0], SPRING[1]) + day_starts(AUTUMN[0], AUTUMN[1])
    for first, last in (SPRING, AUTUMN):
        for i in range(-2, (last - first).days + 3):
            d = first + timedelta(days=i)
            for person in [*people, visitor]:
                for _ in range(rng.choice([0, 0, 1, 2, 2, 2, 3, 4, 6])):
                    at = local(d, rng.randint(-300, 1740), fold=rng.randint(0, 1))
                    at += timedelta(seconds=rng.randint(0, 59), microseconds=rng.choice([0, rng.randint(1, 999_999)]))
                    way = rng.choice([Direction.IN, Direction.OUT])
                    event(person.id, at, way)
                    if rng.random() < 0.05:  # a tie: another passage at the very same instant
                        event(person.id, at, rng.choice([Direction.IN, Direction.OUT]))
                    if rng.random() < 0.1:  # passages that must not count
                        event(person.id, at, way, decision=Decision.DENIED)
                        event(person.id, at + timedelta(minutes=1), Direction.IN, lab=True)
                        event(person.id, at + timedelta(minutes=2), None)
    # The repeated hour of 25 October, both times round, and passages on a day's first instant.
    for person in people[:6]:
        for fold in (0, 1):
            event(person.id, local(date(2026, 10, 25), 120 + rng.randint(0, 59), fold), Direction.IN)
            event(person.id, local(date(2026, 10, 25), 150 + rng.randint(0, 9), fold), Direction.OUT)
        for at in rng.sample(starts, 12):
            event(person.id, at, rng.choice([Direction.IN, Direction.OUT]))
            event(person.id, at - timedelta(microseconds=1), rng.choice([Direction.IN, Direction.OUT]))
    # Someone whose days are nothing but ties in time, ordered by event id (insertion order).
    tie = await Person.create(
        kind=PersonKind.EMPLOYEE,
        display_name="Ties",
        department_id=departments["office"].id,
        roles=["EMPLOYEE"],
        status=PersonStatus.ACTIVE,
    )
    for day, ways in (
        (date(2026, 3, 24), "IO"),
        (date(2026, 3, 25), "OI"),
        (date(2026, 3, 26), "IIO"),
        (date(2026, 3, 27), "OOI"),
        (date(2026, 10, 20), "IOIO"),
        (date(2026, 10, 21), "OIOI"),
    ):
        for way in ways:
            event(tie.id, local(day, 600), Direction.IN if way == "I" else Direction.OUT)
    event(tie.id, local(date(2026, 10, 22), 540), Direction.IN)  # and an OUT tied with the next IN
    for way in "OI":
        event(tie.id, local(date(2026, 10, 22), 720), Direction.IN if way == "I" else Direction.OUT)
    event(None, local(date(2026, 3, 24), 600), Direction.IN)  # nobody's
    await GateEvent.bulk_create(rows, batch_size=500)

    corrections = [
        (people[0], date(2026, 3, 24), local(date(2026, 3, 24), 535), None, "forgot to scan"),
        (people[0], date(2026, 3, 24), None, local(date(2026, 3, 24), 1100), "and out"),
        (people[1], date(2026, 3, 28), local(date(2026, 3, 28), 600), local(date(2026, 3, 28), 700), "a Saturday"),
        (people[3], date(2026, 3, 30), None, local(date(2026, 3, 31), 370), "night exit"),
        (people[6], date(2026, 10, 20), local(date(2026, 10, 20), 480), None, "no schedule"),
        (idle, date(2026, 10, 21), local(date(2026, 10, 21), 540), local(date(2026, 10, 21), 1080), "badge lost"),
        (people[5], date(2026, 10, 25), local(date(2026, 10, 25), 600), None, "DST day"),
    ]
    for person, day, first_in, last_out, reason in corrections:
        await AttendanceCorrection.create(
            person_id=person.id,
            day=day,
            first_in=first_in.astimezone(UTC) if first_in else None,
            last_out=last_out.astimezone(UTC) if last_out else None,
            reason=reason,
        )
    return {
        "office": departments["office"].id,
        "plant": departments["plant"].id,
        "people": [p.id for p in people],
        "idle": idle.id,
        "passages": len(rows),
    }


def differences(a: attendance.AttendanceDay, b: attendance.AttendanceDay) -> dict[str, Any]:
    pairs = {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a)}
    return {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}


def employees() -> Any:
    return Person.filter(kind=PersonKind.EMPLOYEE)


async def ids_of(query: Any) -> list[int]:
    return list(await query.order_by("id").values_list("id", flat=True))


PERIODS = (SPRING, AUTUMN, (date(2026, 3, 29), date(2026, 3, 29)), (date(2026, 10, 25), date(2026, 10, 26)))


async def reference(first: date, last: date) -> dict[int, list[attendance.AttendanceDay]]:
    """The rules over every passage, read plainly: what the report computed before issue 13."""
    people = await employees().order_by("id").values("id", "department_id", "work_schedule_id")
    ids = [p["id"] for p in people]
    shifts = await attendance.schedules_for(people)
    roots = await Zone.filter(parent_id=None).values_list("id", flat=True)
    start = (datetime.combine(first, time.min, tzinfo=TZ) - timedelta(days=1)).astimezone(UTC)
    end = (datetime.combine(last, time.min, tzinfo=TZ) + timedelta(days=2)).astimezone(UTC)
    passages: dict[int, list[attendance.Passage]] = defaultdict(list)
    for r in (
        await GateEvent.filter(
            person_id__in=ids,
            decision=Decision.GRANTED,
            direction__not_isnull=True,
            zone_id__in=list(roots),
            at__gte=start,
            at__lt=end,
        )
        .order_by("at", "id")  # ties in time in event order, as day_tallies orders them
        .values("person_id", "at", "direction", "method")
    ):
        passages[r["person_id"]].append(attendance.Passage(r["at"], r["direction"], r["method"] or ""))
    corrections = await attendance.corrections_for(ids, first, last)
    return {
        pid: attendance.compute_days(passages.get(pid, []), shifts[pid], TZ, first, last, corrections.get(pid))
        for pid in ids
    }


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite://{tmp_path / 'tallies.sqlite3'}"


async def check_everything(url: str, tmp_path: Path) -> None:
    rt = Runtime.create(
        Settings.from_env(
            {
                "GATEHOUSE_DATABASE_URL": url,
                "GATEHOUSE_KEY_FILE": str(tmp_path / "test.key"),
                "GATEHOUSE_TIME_ZONE": TZ_NAME,
            }
        )
    )  # not started: days_for reads rt.settings and rt.topology only
    await db.start(url)
    try:
        seeded = await seed(random.Random(20261130))
        assert seeded["passages"] > 1000
        compared: list[attendance.AttendanceDay] = []
        for first, last in PERIODS:
            want = await reference(first, last)
            got = await attendance.days_for(rt, None, first, last)
            assert list(got) == list(want)
            for pid in want:
                assert [d.day for d in got[pid]] == [d.day for d in want[pid]], (pid, first)
                for a, b in zip(got[pid], want[pid], strict=True):
                    assert a == b, (pid, a.day, differences(a, b))
            assert got[seeded["idle"]] == want[seeded["idle"]]
            compared += [d for days in want.values() for d in days]

            # A department, and a page of people, as the report asks for them.
            office = await attendance.days_for(rt, None, first, last, seeded["office"])
            in_office = await ids_of(employees().filter(department_id=seeded["office"]))
            assert office == {pid: want[pid] for pid in in_office}
            page = seeded["people"][2:7]
            assert await attendance.days_for(rt, page, first, last) == {pid: want[pid] for pid in page}
            plant = await ids_of(employees().filter(department_id=seeded["plant"]))
            assert await attendance.days_for(rt, page, first, last, seeded["plant"]) == {
                pid: want[pid] for pid in page if pid in plant
            }
            assert await attendance.days_for(rt, [], first, last) == {}

            # The summaries (attendanceReport, attendance.csv) too, days without a schedule included.
            period = (last - first).days + 1
            summaries = await attendance.summaries_for(rt, None, first, last)
            shifts = await attendance.schedules_for(await employees().values("id", "department_id", "work_schedule_id"))
            assert summaries == {
                pid: attendance.summarise(pid, days, 0 if shifts[pid] is not None else period)
                for pid, days in want.items()
            }
            assert any(s.attendance_rate is None and s.unscheduled_present for s in summaries.values())
        # The awkward cases were really there.
        assert any(d.missing_exit for d in compared) and any(d.corrected and not d.workday for d in compared)
        assert any("exit_without_entry" in d.flags for d in compared) and any(not d.scheduled for d in compared)
        assert any(d.workday and d.absent for d in compared) and any(d.late for d in compared)
        assert any(d.passages >= 4 and d.inside and not d.missing_exit for d in compared)
        assert any(d.flags.count("exit_without_entry") > 1 for d in compared)
    finally:
        await db.close()


async def test_sql_tallies_equal_the_rules_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    await check_everything(sqlite_url, tmp_path)


async def test_sql_tallies_equal_the_rules_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    # In an interpreter of its own: Tortoise keeps per-dialect query state in the models, and
    # this process may have used them on SQLite already.
    code = "import asyncio, sys; from pathlib import Path; from tests.test_attendance_tallies import check_everything;"
    code += " asyncio.run(check_everything(sys.argv[1], Path(sys.argv[2])))"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, postgres_url, str(tmp_path), cwd=PROJECT, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(child.communicate(), 300)
    assert child.returncode == 0, err.decode()[-4000:]


def test_offset_spans_find_both_changes_to_the_second() -> None:
    spans = day_tallies.offset_spans(TZ, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert spans == [
        (datetime(2026, 1, 1, tzinfo=UTC), 3600),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600),
    ]
    assert day_tallies.offset_spans(ZoneInfo("UTC"), spans[0][0], spans[-1][0]) == [(spans[0][0], 0)]
