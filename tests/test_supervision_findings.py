"""The finding sources drawn from the data (resolvers/supervision/findings, issue 18): for each,
a fact it must find and a near miss it must not, keys that do not change between runs, the
department that would answer, and names in any script kept whole in the summaries.

One check seeds a small site through the models (times relative to the real clock: the sources
judge "past due" at min(period end, now)) and asks every source; it runs on SQLite in this
process and on PostgreSQL in a child (tests/dialects.py), which proves the queries portable."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from resolvers.core import clock
from resolvers.core.models import (
    Asset,
    AssetStatus,
    AttendanceCorrection,
    BackupRun,
    Decision,
    Department,
    Device,
    DeviceAlert,
    DeviceGate,
    DeviceKind,
    DeviceStatus,
    Direction,
    Gate,
    GateDirection,
    GateEvent,
    Grant,
    Item,
    ItemCategory,
    MaintenanceKind,
    MaintenancePlan,
    Person,
    PersonKind,
    Visit,
    VisitStatus,
    Zone,
)
from resolvers.core.settings import Settings
from resolvers.runtime import Runtime
from resolvers.supervision import findings  # noqa: F401  (registers the sources)
from resolvers.supervision.proposals import SOURCES, Period, Proposal, propose
from tests.dialects import database_param, run_on

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
OURS = {
    "tailgating",
    "zone_exit_without_entry",
    "repeated_denials",
    "grant_review_overdue",
    "unused_grants",
    "door_forced",
    "device_offline",
    "maintenance_overdue",
    "loans_overdue",
    "walk_ins",
    "backups_missing",
}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def test_sources(database: str) -> None:
    await run_on(database, check_sources)


def noon(days_ago: int, minutes: int = 0) -> datetime:
    """Local noon `days_ago` days back, plus `minutes`: far from any day's edge."""
    d = clock.now().astimezone(TZ).date() - timedelta(days=days_ago)
    return (datetime.combine(d, time(12), tzinfo=TZ) + timedelta(minutes=minutes)).astimezone(UTC)


def runtime(backup_dir: str | None) -> Runtime:
    keys = tempfile.mkdtemp(prefix="gh-findings-")
    env = {"GATEHOUSE_KEY_FILE": f"{keys}/k.key", "GATEHOUSE_TIME_ZONE": TZ_NAME, "GATEHOUSE_BACKUP_AT": "02:30"}
    if backup_dir is not None:
        env["GATEHOUSE_BACKUP_DIR"] = backup_dir
    return Runtime.create(Settings.from_env(env))


async def check_sources() -> None:
    assert OURS <= set(SOURCES), OURS - set(SOURCES)
    now = clock.now()
    start = datetime.combine(now.astimezone(TZ).date() - timedelta(days=10), time.min, tzinfo=TZ).astimezone(UTC)
    period = Period(start, now + timedelta(hours=1))
    s = await seed(now, start)
    rt = runtime(tempfile.mkdtemp(prefix="gh-backups-"))

    async def found(name: str) -> list[Proposal]:
        got = await SOURCES[name].find(rt, period)  # directly: propose would log a failure and go on
        assert all(p.source == name and p.area == SOURCES[name].area for p in got)
        return got

    def one(got: list[Proposal], key: str) -> Proposal:
        hits = [p for p in got if p.key == key]
        assert len(hits) == 1, (key, [p.key for p in got])
        return hits[0]

    day: Callable[[int], str] = lambda days_ago: noon(days_ago).astimezone(TZ).date().isoformat()  # noqa: E731

    # Tailgating: 李娜 left with no entry; 張偉 came in first; Zoë's day HR corrected.
    got = await found("tailgating")
    p = one(got, f"tailgating:{s['li']}:{day(3)}")
    assert "李娜" in p.summary and p.department_id == s["security"] and p.subject_id == str(s["li"])
    assert p.evidence["exitsWithoutEntry"] == 1
    assert [q.key for q in got] == [p.key]

    got = await found("zone_exit_without_entry")
    assert [q.key for q in got] == [f"zone_exit_without_entry:{s['li']}:{s['lab']}:{day(4)}"]
    assert "李娜" in got[0].summary and "机房" in got[0].summary and got[0].department_id == s["security"]

    # Repeated denials: 3 of 李娜's credential in 5 min (found), 張偉's third 6 min on (not);
    # 10 at the lab gate (found), 9 at the exit (not).
    got = await found("repeated_denials")
    p = one(got, f"repeated_denials:credential:c-li:{day(2)}")
    assert "李娜" in p.summary and "南门" in p.summary and p.department_id == s["security"]
    assert p.evidence["peakDenialsInWindow"] == 3 and p.evidence["threshold"] == 3
    g = one(got, f"repeated_denials:gate:{s['lab_gate']}:{day(2)}")
    assert g.department_id == s["stores"] and "机房门" in g.summary and g.evidence["peakDenialsInWindow"] == 10
    assert len(got) == 2

    # Grants: 李娜's past its review date (found), 張偉's department's due later, a revoked one.
    got = await found("grant_review_overdue")
    assert [q.key for q in got] == [f"grant_review_overdue:{s['g_li']}:{s['g_li_due']}"]
    assert "李娜" in got[0].summary and "机房" in got[0].summary and got[0].department_id == s["stores"]
    # Unused: 李娜's grant to the lab (she never went in); the department's (張偉 went in) is used;
    # Zoë's, valid only from inside the period, is not judged.
    got = await found("unused_grants")
    assert [q.subject_id for q in got] == [str(s["g_li"])]

    # Doors: forced in the period (found), held open before it (not).
    got = await found("door_forced")
    assert [q.key for q in got] == [f"door_forced:forced:{s['lab_gate']}:{day(1)}"]
    assert got[0].department_id == s["stores"] and "机房门" in got[0].summary

    # Devices: 闸机一号 silent for an hour, 闸机二号 alerted in the period; not the one alerted
    # before the period and seen now, nor the retired one (alerted before it was retired).
    got = await found("device_offline")
    assert {q.subject_id for q in got} == {str(s["dev1"]), str(s["dev2"])}
    silent = one(got, f"device_offline:{s['dev1']}:silent_since:{s['dev1_seen']}")
    assert "闸机一号" in silent.summary and silent.department_id == s["stores"] and silent.evidence["silentNow"]
    one(got, f"device_offline:{s['dev2']}:alert:{s['alert2']}")

    got = await found("maintenance_overdue")
    assert [q.subject_id for q in got] == [str(s["dev1"])]
    assert "闸机一号" in got[0].summary and got[0].department_id == s["stores"]

    # Loans: overdue to 張偉 (found), due later and returned ones (not).
    got = await found("loans_overdue")
    assert [q.subject_id for q in got] == [str(s["a1"])]
    assert "笔记本电脑" in got[0].summary and "張偉" in got[0].summary and got[0].department_id == s["stores"]

    # Walk-ins: the emergency visit of the period (found); a booking and an older walk-in (not).
    got = await found("walk_ins")
    assert [q.key for q in got] == [f"walk_ins:{s['v1']}"]
    assert "王芳" in got[0].summary and "李娜" in got[0].summary and got[0].department_id == s["security"]

    # Backups: every daily moment has a good run after it but one (a failed run only).
    got = await found("backups_missing")
    assert [q.key for q in got] == [f"backups_missing:{s['missed_day']}"], [q.key for q in got]
    assert got[0].evidence["failedRunIds"] == [s["failed_run"]]
    # No backup directory: a period with no good run is a finding, this one (with runs) is not.
    bare = runtime(None)
    assert await SOURCES["backups_missing"].find(bare, period) == []
    old = Period(now - timedelta(days=100), now - timedelta(days=99))
    assert [q.key for q in await SOURCES["backups_missing"].find(bare, old)] == ["backups_missing:no_schedule"]

    # Stable across runs, and propose asks them all in the same order.
    first = [q.key for q in await propose(rt, period) if q.source in OURS]
    again = [q.key for q in await propose(rt, period) if q.source in OURS]
    assert first == again and len(first) == len(set(first)) == 13
    assert {q.source for q in await propose(rt, period, {"visitors"})} == {"walk_ins"}


async def seed(now: datetime, start: datetime) -> dict[str, object]:
    security = await Department.create(name="安保部")
    stores = await Department.create(name="仓储部")
    site = await Zone.create(name="园区", department_id=security.id)
    lab = await Zone.create(name="机房", parent=site, department_id=stores.id)
    gate_in = await Gate.create(name="南门", zone=site, direction=GateDirection.IN)
    gate_out = await Gate.create(name="南门出口", zone=site, direction=GateDirection.OUT)
    lab_gate = await Gate.create(name="机房门", zone=lab, direction=GateDirection.IN)
    lab_exit = await Gate.create(name="机房出口", zone=lab, direction=GateDirection.OUT)
    li = await Person.create(display_name="李娜", department=security, position="工程师")
    zhang = await Person.create(display_name="張偉", department=stores, position="仓管")
    zoe = await Person.create(display_name="Zoë", department=security)
    visitor = await Person.create(display_name="王芳", kind=PersonKind.VISITOR)

    def event(gate: Gate, at: datetime, **kw: object) -> GateEvent:
        return GateEvent(at=at, gate_id=gate.id, zone_id=gate.zone_id, reason=kw.pop("reason", "ok"), **kw)

    granted = {"decision": Decision.GRANTED}
    denied = {"decision": Decision.DENIED, "reason": "no_grant"}
    events = [
        # Tailgating (3 days ago): 李娜 out with no in; 張偉 in then out; Zoë out with no in, corrected.
        event(gate_out, noon(3, 60), person_id=li.id, direction=Direction.OUT, **granted),
        event(gate_in, noon(3, -180), person_id=zhang.id, direction=Direction.IN, **granted),
        event(gate_out, noon(3, 300), person_id=zhang.id, direction=Direction.OUT, **granted),
        event(gate_out, noon(3, 60), person_id=zoe.id, direction=Direction.OUT, **granted),
        # 張偉 into the lab: his department's grant is used.
        event(lab_gate, noon(3, -120), person_id=zhang.id, direction=Direction.IN, **granted),
        # The lab: 李娜 leaves it with no entry (found); 張偉 leaves after entering; Zoë leaves early
        # in the period having entered the evening before it.
        event(lab_exit, noon(4), person_id=li.id, direction=Direction.OUT, **granted),
        event(lab_exit, noon(3, -60), person_id=zhang.id, direction=Direction.OUT, **granted),
        event(lab_gate, start - timedelta(hours=2), person_id=zoe.id, direction=Direction.IN, **granted),
        event(lab_exit, start + timedelta(hours=1), person_id=zoe.id, direction=Direction.OUT, **granted),
        # The forced door in the period, and a held-open door before it.
        event(lab_gate, noon(1), reason="forced"),
        event(lab_gate, start - timedelta(hours=1), reason="held_open"),
    ]
    for minute in (0, 1, 2):
        events.append(event(gate_in, noon(2, minute), person_id=li.id, credential_cid="c-li", **denied))
    for seconds in (0, 60, 361):
        at = noon(2, 30) + timedelta(seconds=seconds)
        events.append(event(gate_in, at, person_id=zhang.id, credential_cid="c-zhang", **denied))
    for i in range(10):
        events.append(event(lab_gate, noon(2, 60) + timedelta(seconds=20 * i), **denied))
    for i in range(9):
        events.append(event(gate_out, noon(2, 120) + timedelta(seconds=20 * i), **denied))
    await GateEvent.bulk_create(events)
    await AttendanceCorrection.create(
        person_id=zoe.id, day=noon(3).astimezone(TZ).date(), first_in=noon(3, -200), reason="门禁故障"
    )

    long_ago = now - timedelta(days=30)
    g_li = await Grant.create(zone=lab, person=li, review_due_at=now - timedelta(days=1), created_at=long_ago)
    await Grant.create(zone=lab, department=stores, review_due_at=now + timedelta(days=5), created_at=long_ago)
    await Grant.create(
        zone=lab,
        person=zoe,
        review_due_at=now - timedelta(days=3),
        revoked_at=now - timedelta(days=20),
        created_at=long_ago,
    )
    # Made long ago but valid only from inside the period: not judged unused on it.
    await Grant.create(zone=lab, person=zoe, valid_from=now - timedelta(days=2), review_due_at=now + timedelta(days=9))
    await Grant.all().update(created_at=long_ago)
    g_li = await Grant.get(id=g_li.id)
    assert g_li.review_due_at is not None

    def device(name: str, status: DeviceStatus, seen: datetime | None) -> Device:
        return Device(name=name, kind=DeviceKind.QR_SCANNER, secret_hash="x" * 64, status=status, last_seen_at=seen)

    await Device.bulk_create(
        [
            device("闸机一号", DeviceStatus.IN_SERVICE, now - timedelta(hours=1)),
            device("闸机二号", DeviceStatus.IN_SERVICE, now),
            device("闸机三号", DeviceStatus.RETIRED, now - timedelta(days=9)),
            device("闸机四号", DeviceStatus.IN_SERVICE, now),
        ]
    )
    dev1, dev2, dev3, dev4 = await Device.all().order_by("id")
    await DeviceGate.create(device=dev1, gate=lab_gate)
    await DeviceGate.create(device=dev2, gate=gate_in)
    alert2 = await DeviceAlert.create(at=noon(4), device=dev2, kind="offline", message="offline")
    await DeviceAlert.create(at=start - timedelta(minutes=5), device=dev4, kind="offline", message="offline")
    await DeviceAlert.create(at=noon(5), device=dev3, kind="offline", message="offline")  # retired since
    for dev, due in ((dev1, now - timedelta(days=2)), (dev2, now + timedelta(days=2)), (dev3, now - timedelta(days=5))):
        await MaintenancePlan.create(device_id=dev.id, kind=MaintenanceKind.CLEANING, interval_days=30, next_due=due)

    laptop = await Item.create(name="笔记本电脑", category=ItemCategory.OTHER, serialized=True)

    def lent(due: datetime, status: AssetStatus = AssetStatus.LENT) -> Asset:
        return Asset(
            item_id=laptop.id,
            serial="SN-1",
            status=status,
            holder_person_id=zhang.id,
            holder_department_id=stores.id,
            due_back=due,
        )

    await Asset.bulk_create([lent(now - timedelta(days=1)), lent(now + timedelta(days=3))])
    await Asset.create(item_id=laptop.id, status=AssetStatus.IN_STOCK, due_back=now - timedelta(days=2))
    a1 = await Asset.filter(status=AssetStatus.LENT).order_by("id").first()
    assert a1 is not None

    def visit(emergency: bool) -> Visit:
        return Visit(
            host_id=li.id,
            visitor_id=visitor.id,
            visitor_name="王芳",
            purpose="维修",
            expected_start=now,
            expected_end=now + timedelta(hours=2),
            status=VisitStatus.APPROVED,
            emergency=emergency,
        )

    await Visit.bulk_create([visit(True), visit(False), visit(True)])
    v_now, _, v_old = await Visit.all().order_by("id")
    await Visit.filter(id=v_old.id).update(created_at=start - timedelta(days=1))
    await Visit.filter(id__in=[v_now.id]).update(created_at=noon(1))

    # Backups: a good run after each daily 02:30 of the period old enough to judge, but one.
    runs = []
    missed_day = None
    d = start.astimezone(TZ).date()
    while d <= now.astimezone(TZ).date():
        slot = datetime.combine(d, time(2, 30), tzinfo=TZ).astimezone(UTC)
        if start <= slot <= now - timedelta(hours=2):
            if d == date.fromordinal(now.astimezone(TZ).date().toordinal() - 4):
                missed_day = d.isoformat()
                runs.append(
                    BackupRun(
                        started_at=slot + timedelta(minutes=1),
                        finished_at=slot,
                        kind="daily",
                        ok=False,
                        error="磁盘已满",
                    )
                )
            else:
                runs.append(BackupRun(started_at=slot + timedelta(minutes=1), finished_at=slot, kind="daily", ok=True))
        d += timedelta(days=1)
    await BackupRun.bulk_create(runs)
    failed = await BackupRun.get(ok=False)
    return {
        "security": security.id,
        "stores": stores.id,
        "lab_gate": lab_gate.id,
        "lab": lab.id,
        "li": li.id,
        "g_li": g_li.id,
        "g_li_due": g_li.review_due_at.isoformat(),
        "dev1": dev1.id,
        "dev1_seen": dev1.last_seen_at.isoformat() if dev1.last_seen_at else None,
        "dev2": dev2.id,
        "alert2": alert2.id,
        "a1": a1.id,
        "v1": v_now.id,
        "missed_day": missed_day,
        "failed_run": failed.id,
    }
