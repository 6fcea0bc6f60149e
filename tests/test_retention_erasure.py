"""Retention and erasure (issue 17; README "Retention and erasure").

Retention: the purge the upkeep runs, on a real database (SQLite here, PostgreSQL in a child
through tests/dialects.py), on an injected clock: only rows older than each setting go,
attendance over the kept period reads the same before and after (its old days from the tallies
stored first), the purge is in the audit log, a second run changes nothing, and the database
itself refuses to delete a young audit entry or to change one without an erasure; an erasure
on the same database changes the names in an entry and nothing else. A setting
below its legal minimum stops the CLI with one line and exit code 2.

Erasure: through GraphQL on a real server, an offboarded person's personal data leaves every
table (read straight from the SQLite file), the ID-number look-up finds nothing, their passages
and attendance count the same, the audit log gains the erasure with its reason and keeps every
earlier entry (names replaced); the refusals; and `gatehouse erase-person` once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise.exceptions import BaseORMException

from api import cli
from api.demo import make_prc_id
from resolvers.attendance import attendance, retention
from resolvers.core import clock
from resolvers.core.errors import UserError
from resolvers.core.models import (
    AttendanceCorrection,
    AttendanceDayTally,
    AuditEntry,
    AuditRedaction,
    Decision,
    Direction,
    EntryMethod,
    Gate,
    GateDirection,
    GateEvent,
    Person,
    PersonKind,
    PersonStatus,
    Visit,
    VisitStatus,
    Zone,
)
from resolvers.core.settings import Settings, SettingsError
from resolvers.people import erasure
from resolvers.runtime import Runtime
from tests.dialects import database_param, run_on
from tests.harness import Site, SiteTemplate, World, eventually

# --------------------------------------------------------------------------- retention

TZ = "Asia/Shanghai"
PASSAGE_DAYS, ATTENDANCE_DAYS, AUDIT_DAYS = 365, 730, 180
# Days ago on which both people came in at 08:00 and left at 17:00 (site time).
CAME_DAYS_AGO = (800, 500, 400, 367, 363, 200, 10)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """The domain's clock (resolvers/core/clock.py) reads `moment`."""
    real = clock.now
    clock.now = lambda: moment
    try:
        yield
    finally:
        clock.now = real


def settings() -> Settings:
    return Settings.from_env(
        {
            "GATEHOUSE_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "GATEHOUSE_TIME_ZONE": TZ,
            "GATEHOUSE_RETENTION_PASSAGE_DAYS": str(PASSAGE_DAYS),
            "GATEHOUSE_RETENTION_ATTENDANCE_DAYS": str(ATTENDANCE_DAYS),
            "GATEHOUSE_RETENTION_AUDIT_DAYS": str(AUDIT_DAYS),
        }
    )


async def seed(rt: Runtime, now: datetime) -> list[int]:
    site = await Zone.create(name="Site")
    gate = await Gate.create(name="Main gate", zone=site, direction=GateDirection.BOTH)
    people = [
        await Person.create(kind=PersonKind.EMPLOYEE, display_name=name, roles=["EMPLOYEE"]) for name in ("李娜", "Zoë")
    ]
    tz = rt.settings.tz
    events = []
    for ago in CAME_DAYS_AGO:
        day = (now - timedelta(days=ago)).astimezone(tz).date()
        for person in people:
            for hour, direction in ((8, Direction.IN), (17, Direction.OUT)):
                at = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)
                events.append(
                    GateEvent(
                        at=at,
                        gate_id=gate.id,
                        zone_id=site.id,
                        person_id=person.id,
                        decision=Decision.GRANTED,
                        reason="OK",
                        method=EntryMethod.QR,
                        direction=direction,
                    )
                )
        # A refusal at the gate that day: a passage record too, kept and purged alike.
        events.append(
            GateEvent(
                at=now - timedelta(days=ago), gate_id=gate.id, zone_id=site.id, decision=Decision.DENIED, reason="X"
            )
        )
    await GateEvent.bulk_create(events)
    for ago in (800, 400):
        await AttendanceCorrection.create(
            person_id=people[0].id, day=(now - timedelta(days=ago)).astimezone(tz).date(), reason=f"{ago} days ago"
        )
    for ago in (200, 170):
        await AuditEntry.create(at=now - timedelta(days=ago), action="seeded", target_id=str(ago))
    return [p.id for p in people]


async def attendance_of(rt: Runtime, ids: list[int], first: date, last: date) -> Any:
    days = await attendance.days_for(rt, ids, first, last)
    summaries = await attendance.summaries_for(rt, ids, first, last)
    return {pid: [asdict(d) for d in rows] for pid, rows in days.items()}, summaries


async def check_purge() -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # the database's own clock guards the audit log
    rt = Runtime.create(settings())
    ids = await seed(rt, now)
    tz = rt.settings.tz
    today = now.astimezone(tz).date()
    kept_period = (today - timedelta(days=ATTENDANCE_DAYS - 1), today)
    before = await attendance_of(rt, ids, *kept_period)
    assert sum(s.unscheduled_present for s in before[1].values()) == 2 * 6  # all but 800 days ago
    events_before = {e.id: e.at for e in await GateEvent.all()}

    with clock_at(now):
        done = await retention.purge(rt)

    # Passages: none younger than the setting went; all but at most a day's margin older did.
    setting = now - timedelta(days=PASSAGE_DAYS)
    assert setting - timedelta(days=2) < done.passages_before <= setting
    kept = {e.id for e in await GateEvent.all()}
    assert kept == {pk for pk, at in events_before.items() if at >= done.passages_before}
    assert done.passages == len(events_before) - len(kept) == 4 * 5  # 800, 500, 400, 367 days ago
    # Attendance over the kept period: the same answers, its old days now from stored tallies.
    assert await attendance_of(rt, ids, *kept_period) == before
    assert await AttendanceDayTally.filter(day__lt=kept_period[0]).count() == 0
    assert await AttendanceDayTally.all().count() == 2 * 3  # 500, 400 and 367 days ago
    # Attendance records older than their setting went: the correction of 800 days ago.
    assert [c.reason for c in await AttendanceCorrection.all()] == ["400 days ago"]
    # The audit log: the entry of 200 days ago went, and the purge is written down.
    assert [e.target_id for e in await AuditEntry.filter(action="seeded")] == ["170"]
    assert now - timedelta(days=AUDIT_DAYS + 1) < done.audit_before <= now - timedelta(days=AUDIT_DAYS)
    (entry,) = await AuditEntry.filter(action="retentionPurge")
    assert entry.detail["passages"] == {"rows": 20, "before": done.passages_before.isoformat()}
    assert entry.detail["attendance"]["rows"] == 1 and entry.detail["audit"]["rows"] == 1
    assert entry.actor_id is None and entry.address == "upkeep"

    # Again, an hour later: nothing more is due (purges go by whole days), nothing is written.
    with clock_at(now + timedelta(hours=1)):
        again = await retention.purge(rt)
    assert not again.any
    assert await AuditEntry.filter(action="retentionPurge").count() == 1
    assert await attendance_of(rt, ids, *kept_period) == before

    # The database itself: a young audit entry cannot go, nor change without an erasure.
    young = await AuditEntry.get(action="seeded")
    with pytest.raises(BaseORMException, match="append-only"):
        await AuditEntry.filter(id=young.id).delete()
    with pytest.raises(BaseORMException, match="append-only"):
        await AuditEntry.filter(id=young.id).update(actor_name="someone else")
    assert (await AuditEntry.get(id=young.id)).actor_name == ""

    # An erasure on this database: the person's own entry names them by the pseudonym (the
    # triggers' one allowed change), nothing else about it changes, attendance counts the same.
    lina = await Person.get(id=ids[0])
    await Person.filter(id=lina.id).update(username="lina", status=PersonStatus.OFFBOARDED)
    own = await AuditEntry.create(  # written after the person's row, as every entry about them is
        at=datetime.now(UTC),
        actor_id=lina.id,
        actor_name="李娜",
        action="changePassword",
        detail={"note": "李娜, at the desk"},
    )
    with clock_at(now):
        done_erasure = await erasure.erase_by_username(rt, "lina", "asked in writing")
    assert done_erasure.audit_entries_redacted == 1
    label = f"Erased person {lina.id}"
    redacted = await AuditEntry.get(id=own.id)
    assert (redacted.actor_name, redacted.detail) == (label, {"note": f"{label}, at the desk"})
    assert (redacted.at, redacted.action, redacted.actor_id) == (own.at, own.action, own.actor_id)
    assert await AuditRedaction.filter(entry_id=own.id).count() == 1
    with pytest.raises(BaseORMException, match="append-only"):
        await AuditEntry.filter(id=own.id).update(outcome="refused")
    assert (await Person.get(id=lina.id)).display_name == label
    assert await attendance_of(rt, ids, *kept_period) == before

    # A visitor: refused during their visit; after it, anonymised as visitor retention would.
    guest = await Person.create(kind=PersonKind.VISITOR, display_name="王芳", id_number_hash="h" * 64)
    visit = await Visit.create(
        host_id=ids[1],
        visitor_id=guest.id,
        visitor_name="王芳",
        phone_hash="p" * 64,
        company="Acme",
        purpose="audit",
        expected_start=now - timedelta(hours=2),
        expected_end=now + timedelta(hours=2),
        status=VisitStatus.CHECKED_IN,
    )
    with pytest.raises(UserError, match="visit of this person is still under way"):
        await erasure.check_erasable(guest, None, "asked at the desk")
    await Visit.filter(id=visit.id).update(status=VisitStatus.CHECKED_OUT)
    await erasure.check_erasable(guest, None, "asked at the desk")
    with clock_at(now):
        await erasure.erase(rt, None, guest, "asked at the desk", "test")
    left = await Visit.get(id=visit.id)
    assert (left.visitor_name, left.phone_hash, left.company, left.host_id) == (
        f"Visitor #{visit.id}",
        None,
        "",
        ids[1],
    )
    guest = await Person.get(id=guest.id)
    assert (guest.display_name, guest.id_number_hash) == (f"Erased person {guest.id}", None)
    with pytest.raises(UserError, match="already erased"):
        await erasure.check_erasable(guest, None, "again")


async def test_purge_and_erasure_keep_what_the_law_and_reports_need(database: str) -> None:
    await run_on(database, check_purge)


@pytest.mark.parametrize(
    ("name", "value", "minimum"),
    [
        ("GATEHOUSE_RETENTION_AUDIT_DAYS", "90", 180),
        ("GATEHOUSE_RETENTION_PASSAGE_DAYS", "179", 180),
        ("GATEHOUSE_RETENTION_ATTENDANCE_DAYS", "365", 730),
    ],
)
def test_a_setting_below_its_legal_minimum_stops_the_server(
    name: str, value: str, minimum: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"gatehouse: {name} must be at least {minimum} days (") and err.endswith(f"got {value}\n")
    with pytest.raises(SettingsError):
        Settings.from_env({name: str(minimum - 1)})
    assert getattr(Settings.from_env({name: str(minimum)}), name.removeprefix("GATEHOUSE_").lower()) == minimum


def test_defaults_are_at_least_the_minimums() -> None:
    s = Settings.from_env({})
    assert (s.retention_passage_days, s.retention_attendance_days, s.retention_audit_days) == (365, 1095, 1095)


# --------------------------------------------------------------------------- erasure

NAME = "赵敏 Zhao Min"
USERNAME = "zhaomin"
ID_NUMBER = make_prc_id("110101", "19920304", "517")
PHONE = "+8613912345678"
REASON = "PIPL art. 47 request, ticket 2026-118"
LOBBY_IN, LOBBY_OUT = "Lobby turnstile in", "Lobby turnstile out"

ERASE = (
    "mutation($p:ID!,$r:String!){erasePersonalData(personId:$p,reason:$r)"
    "{person{id displayName username erasedAt idNumberMasked phoneMasked} auditEntriesRedacted"
    " errors{code message field}}}"
)
OFFBOARD = "mutation($id:ID!){offboardEmployee(id:$id){errors{code message}}}"
MANUAL = "mutation($i:ManualEntryInput!){recordManualEntry(input:$i){event{decision} errors{code message}}}"
REPORT = (
    "query($f:Date!,$t:Date!){attendanceReport(from:$f,to:$t,first:100)"
    "{edges{node{person{id displayName} unscheduledPresent present workdays}}}}"
)
BY_ID_NUMBER = "query($n:String!){peopleByIdNumber(idNumber:$n){id displayName}}"
AUDIT = (
    "query($a:String){auditLog(first:100,action:$a){edges{node{id actorName action targetType targetId"
    " outcome detail}}}}"
)


@pytest.fixture(scope="module")
def world(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One demo site for the module; confirmations last 5 minutes, as by default."""
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("erasure"))
    site.start_server(GATEHOUSE_CONFIRMATION_MINUTES="5")
    try:
        yield World(site)
    finally:
        site.let_go()


def db_file(site: Site) -> sqlite3.Connection:
    return sqlite3.connect(site.database_url.removeprefix("sqlite://"))


def every_row(site: Site) -> str:
    """Every table's rows as SQL text (BLOBs as hex)."""
    with db_file(site) as db:
        return "\n".join(db.iterdump())


def forms(text: str) -> set[str]:
    """A string as it may be stored: as is, and inside JSON (non-ASCII escaped)."""
    return {text, json.dumps(text)[1:-1]}


async def codes_of(answer: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]


async def onboard_and_come_in(world: World) -> str:
    hr = world.client("hr")
    hired = await hr.ok(
        "mutation($i:OnboardEmployeeInput!){onboardEmployee(input:$i){employee{id} errors{code message}}}",
        {
            "i": {
                "displayName": NAME,
                "idNumber": ID_NUMBER,
                "phone": PHONE,
                "departmentId": world.ids.departments["Engineering"],
                "position": "工程师",
                "username": USERNAME,
            }
        },
    )
    assert hired["onboardEmployee"]["errors"] == [], hired
    person = str(hired["onboardEmployee"]["employee"]["id"])
    granted = await world.client("security").ok(
        "mutation($i:GrantAccessInput!){grantAccess(input:$i){errors{code message}}}",
        {"i": {"zoneId": world.ids.zones["Lobby"], "personId": person}},
    )
    assert granted["grantAccess"]["errors"] == [], granted
    for gate, direction in ((LOBBY_IN, "IN"), (LOBBY_OUT, "OUT"), (LOBBY_IN, "IN")):
        await manual_entry(world, person, gate, direction)
    return person


async def manual_entry(world: World, person: str, gate: str, direction: str) -> None:
    """A guard lets the person through after checking their ID card."""
    document = {"documentType": "ID_CARD", "documentNumberLast4": ID_NUMBER[-4:]}
    entry = await world.client("guard").ok(
        MANUAL, {"i": {"personId": person, "gateId": world.gate(gate), "direction": direction, **document}}
    )
    assert entry["recordManualEntry"]["errors"] == [], entry
    assert entry["recordManualEntry"]["event"]["decision"] == "GRANTED"


async def report_line(world: World, person: str) -> dict[str, Any]:
    today = world.server.clock.now().date() if world.server.clock else date.today()
    period = {"f": (today - timedelta(days=1)).isoformat(), "t": (today + timedelta(days=1)).isoformat()}
    data = await world.client("hr").ok(REPORT, period)
    (line,) = [e["node"] for e in data["attendanceReport"]["edges"] if e["node"]["person"]["id"] == person]
    return line


def audit_rows(site: Site) -> dict[int, tuple[Any, ...]]:
    with db_file(site) as db:
        rows = db.execute("SELECT id, at, actor_id, address, action, target_type, target_id, outcome FROM audit_entry")
        return {r[0]: tuple(r) for r in rows}


async def test_erasure_through_graphql(world: World) -> None:
    site, admin = world.site, world.client("admin")
    person = await onboard_and_come_in(world)
    with db_file(site) as db:
        secrets_of = db.execute(
            "SELECT id_number_enc, id_number_hash, id_number_masked, phone_enc, phone_hash, phone_masked"
            " FROM person WHERE id = ?",
            (int(person),),
        ).fetchone()
        passages = db.execute("SELECT count(*) FROM gate_event WHERE person_id = ?", (int(person),)).fetchone()
    assert all(secrets_of) and passages == (3,)
    line = await report_line(world, person)
    assert line["unscheduledPresent"] + line["present"] >= 1, line

    # The template's sign-ins may be older than the confirmation window when the whole suite runs.
    confirmed = await admin.ok(
        "mutation($p:String){confirmIdentity(password:$p){errors{code}}}", {"p": world.demo.passwords["admin"]}
    )
    assert confirmed["confirmIdentity"]["errors"] == []
    # Refused: not a people admin; still employed; the reason names them.
    for caller in ("alice", "guard", "security"):
        answer = await world.client(caller).raw(ERASE, {"p": person, "r": REASON})
        assert await codes_of(answer) == ["FORBIDDEN"] and answer["data"] is None, answer
    active = await admin.ok(ERASE, {"p": person, "r": REASON})
    assert [e["code"] for e in active["erasePersonalData"]["errors"]] == ["NOT_ALLOWED"]
    assert "offboard them first" in active["erasePersonalData"]["errors"][0]["message"]
    assert (await world.client("hr").ok(OFFBOARD, {"id": person}))["offboardEmployee"]["errors"] == []
    # Let out after offboarding: an alert for the guards names them.
    await manual_entry(world, person, LOBBY_OUT, "OUT")

    def alerted() -> bool:
        with db_file(site) as db:
            found = db.execute("SELECT count(*) FROM device_alert WHERE message LIKE ?", (f"{NAME} left%",))
            return bool(found.fetchone()[0] == 1)

    await eventually(alerted, timeout=10, what="the exit_after_revocation alert")
    line = await report_line(world, person)
    named = await admin.ok(ERASE, {"p": person, "r": f"{NAME} asked"})
    assert [(e["code"], e["field"]) for e in named["erasePersonalData"]["errors"]] == [("INVALID", "reason")]

    # Refused without a recent confirmation (5 minutes here), accepted after confirmIdentity.
    assert world.server.clock is not None
    world.server.clock.advance(6 * 60)
    stale = await admin.ok(ERASE, {"p": person, "r": REASON})
    assert [e["code"] for e in stale["erasePersonalData"]["errors"]] == ["CONFIRMATION_REQUIRED"]
    with db_file(site) as db:
        assert db.execute("SELECT erased_at FROM person WHERE id = ?", (int(person),)).fetchone() == (None,)
    earlier = audit_rows(site)
    present = every_row(site)  # the check below can fail: before, they are there
    assert all(any(f in present for f in forms(t)) for t in (NAME, USERNAME, secrets_of[2], secrets_of[4]))
    confirmed = await admin.ok(
        "mutation($p:String){confirmIdentity(password:$p){errors{code}}}", {"p": world.demo.passwords["admin"]}
    )
    assert confirmed["confirmIdentity"]["errors"] == []

    erased = (await admin.ok(ERASE, {"p": person, "r": REASON}))["erasePersonalData"]
    assert erased["errors"] == [], erased
    label = f"Erased person {person}"
    assert erased["person"]["displayName"] == label and erased["person"]["username"] is None
    assert erased["person"]["erasedAt"] and erased["person"]["idNumberMasked"] is None
    assert erased["auditEntriesRedacted"] >= 1  # onboardEmployee's arguments named them
    again = (await admin.ok(ERASE, {"p": person, "r": REASON}))["erasePersonalData"]
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]

    # Gone from every table: name, username, numbers, masks, hashes, sealed values.
    dump = every_row(site)
    texts = (NAME, "赵敏", USERNAME, ID_NUMBER, PHONE, *secrets_of[1:3], *secrets_of[4:])
    gone = set().union(*(forms(t) for t in texts))
    gone |= {blob.hex().upper() for blob in (secrets_of[0], secrets_of[3])}
    assert [t for t in gone if t in dump] == []
    assert (await admin.ok(BY_ID_NUMBER, {"n": ID_NUMBER}))["peopleByIdNumber"] == []

    # Counts stay: the passages point at the pseudonymous row, attendance reads the same.
    with db_file(site) as db:
        assert db.execute("SELECT count(*) FROM gate_event WHERE person_id = ?", (int(person),)).fetchone() == (4,)
        (message,) = db.execute(
            "SELECT message FROM device_alert WHERE message LIKE '%after their access ended'"
        ).fetchone()
    assert message.startswith(f"{label} left through {LOBBY_OUT}")
    assert await report_line(world, person) == {**line, "person": {"id": person, "displayName": label}}

    # The audit trail: every earlier entry still there, unchanged in who/what/when/outcome; the
    # erasure with its reason and who did it; the names in earlier entries now the pseudonym.
    after = audit_rows(site)
    assert {pk: after[pk] for pk in earlier} == earlier
    (record,) = [e["node"] for e in (await admin.ok(AUDIT, {"a": "personalDataErased"}))["auditLog"]["edges"]]
    assert (record["targetType"], record["targetId"], record["actorName"]) == ("person", person, "Ada Admin")
    assert record["detail"] == {"reason": REASON, "pseudonym": label}
    (onboarded,) = [
        e["node"]
        for e in (await admin.ok(AUDIT, {"a": "onboardEmployee"}))["auditLog"]["edges"]
        if e["node"]["detail"]["arguments"]["input"].get("displayName") == label
    ]
    assert onboarded["detail"]["arguments"]["input"]["username"] == label
    assert onboarded["detail"]["arguments"]["input"]["idNumber"] == "<redacted>"
    (mutation,) = [e["node"] for e in (await admin.ok(AUDIT, {"a": "erasePersonalData"}))["auditLog"]["edges"][:1]]
    assert mutation["detail"]["arguments"] == {"personId": person, "reason": REASON}

    # The triggers: a redacted entry still cannot change in what happened, nor another in anything.
    with db_file(site) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_entry SET outcome = 'ok?' WHERE id = ?", (int(onboarded["id"]),))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_entry SET actor_name = 'x' WHERE id = ?", (int(record["id"]),))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_redaction")


async def test_the_servers_upkeep_runs_the_purge(world: World) -> None:
    """Nothing on the demo site is old enough to go, but the upkeep's purge has set its mark."""

    def marked() -> bool:
        with db_file(world.site) as db:
            return db.execute("SELECT count(*) FROM retention_mark WHERE kind = 'passages'").fetchone() == (1,)

    await eventually(marked, timeout=30, what="the upkeep's first purge")


async def test_erasure_needs_a_people_admin_and_a_known_person(world: World) -> None:
    anonymous = await world.client(None).raw(ERASE, {"p": "1", "r": REASON})
    assert await codes_of(anonymous) == ["UNAUTHENTICATED"]
    hr = world.client("hr")
    confirmed = await hr.ok(
        "mutation($p:String){confirmIdentity(password:$p){errors{code}}}", {"p": world.demo.passwords["hr"]}
    )
    assert confirmed["confirmIdentity"]["errors"] == []
    unknown = (await hr.ok(ERASE, {"p": "999999", "r": REASON}))["erasePersonalData"]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("NOT_FOUND", "personId")]
    # HR may erase, but only an ADMIN erases someone who held a privileged role (the guard).
    guard = world.ids.people["guard"]
    assert (await world.client("admin").ok(OFFBOARD, {"id": guard}))["offboardEmployee"]["errors"] == []
    privileged = await hr.raw(ERASE, {"p": guard, "r": REASON})
    assert await codes_of(privileged) == ["FORBIDDEN"], privileged


def test_erase_person_and_purge_on_the_command_line(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gatehouse erase-person`, its entry point run in this process (a fresh interpreter costs seconds)."""
    bob = world.ids.people["bob"]
    offboarded = asyncio.run(world.client("hr").ok(OFFBOARD, {"id": bob}))
    assert offboarded["offboardEmployee"]["errors"] == []
    for name in ("GATEHOUSE_DATABASE_URL", "GATEHOUSE_SECRET_KEY", "GATEHOUSE_KEY_FILE"):
        monkeypatch.setenv(name, world.site.env[name])
    assert cli.main(["erase-person", "bob", "--reason", "asked by letter"]) == 0
    assert f"now 'Erased person {bob}'" in capsys.readouterr().out
    with db_file(world.site) as db:
        row = db.execute("SELECT display_name, username, erased_at FROM person WHERE id = ?", (int(bob),)).fetchone()
        (entry,) = db.execute(
            "SELECT actor_id, address, detail FROM audit_entry WHERE action = 'personalDataErased' AND target_id = ?",
            (str(bob),),
        ).fetchall()
    assert row[:2] == (f"Erased person {bob}", None) and row[2]
    assert entry[:2] == (None, "cli") and json.loads(entry[2])["reason"] == "asked by letter"
    # Erased, the account name is free: a second run finds no one.
    assert cli.main(["erase-person", "bob", "--reason", "again"]) == 2
    assert capsys.readouterr().err == "gatehouse: no account with username 'bob'\n"
    # `gatehouse purge`: the demo site has nothing old enough to go.
    assert cli.main(["purge"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 gate events before ")
