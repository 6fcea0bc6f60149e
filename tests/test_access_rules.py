"""People, roles and access rules (POLICY 3.1, 6.3, 7) against a real server.

Schedules, position grants, department-head scope, maintenance access requests,
access reviews, offboarding, the audit log, unmasked personal data and the rate
limits on sign-in and invite codes. Every test gets a fresh server process on its
own copy of a demo database loaded once per module (`world`), so rate-limit counters,
grants and audit entries never leak from one test to the next.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.demo import make_prc_id
from mobile_contracts import documents
from tests import harness
from tests.harness import OfflineGate, ServerProcess, Site, operation_index

DEMO_USERS = ["admin", "security", "hr", "guard", "alice", "carol", "bob", "dave"]


def demo_id_number(username: str) -> str:
    i = DEMO_USERS.index(username)
    return make_prc_id("110101", f"19{80 + i}0101", f"{100 + i:03d}")


def demo_phone(username: str) -> str:
    return f"+86138000000{DEMO_USERS.index(username):02d}"


OPERATIONS = operation_index(documents())

GRANT = """mutation($input: GrantAccessInput!) {
  grantAccess(input: $input) {
    grant { id validFrom validUntil revokedAt zone { id name } person { id } }
    errors { code message field }
  }
}"""
REVOKE = "mutation($id: ID!) { revokeGrant(id: $id) { grant { id revokedAt } errors { code field } } }"
MARK_REVIEWED = "mutation($id: ID!) { markGrantReviewed(id: $id) { grant { id } errors { code field } } }"
PERSON_GRANTS = (
    "query($p: ID!) { grants(personId: $p) { id validUntil zone { name } person { id } department { name } } }"
)
REVIEW = """query($z: ID!) { zoneAccessReview(zoneId: $z, first: 100) { edges { node {
  via person { id username department { name } } grant { id zone { name } } } } } }"""
UNUSED = "query($d: Int!) { unusedGrants(days: $d, first: 100) { edges { node { id zone { name } } } } }"
DUE = "{ grantsDueForReview(first: 100) { edges { node { id zone { name } } } } }"
REQUEST = """mutation($z: ID!, $r: String!, $d: Int!) { requestZoneAccess(zoneId: $z, reason: $r, days: $d) {
  request { id status days reason person { username } zone { name } } errors { code field } } }"""
REQUEST_FIELDS = "request { id status decidedAt grant { id validFrom validUntil zone { name } person { username } } }"
APPROVE = f"mutation($id: ID!) {{ approveAccessRequest(id: $id) {{ {REQUEST_FIELDS} errors {{ code field }} }} }}"
REJECT = f'mutation($id: ID!) {{ rejectAccessRequest(id: $id, note: "no") {{ {REQUEST_FIELDS} errors {{ code }} }} }}'
TO_DECIDE = "{ accessRequestsToDecide(first: 100) { edges { node { id status person { username } zone { name } } } } }"
AUDIT = """query($first: Int!, $action: String) { auditLog(first: $first, action: $action) {
  edges { node { id at actor { id } actorName address action targetType targetId outcome detail } } } }"""
LOGIN = """mutation($username: String!, $password: String!) { login(username: $username, password: $password) {
  session { accessToken refreshToken } errors { code message field } } }"""
PEOPLE = "{ people(first: 100) { edges { node { id username department { name } } } } }"  # ordered by id
PERSON = "query($id: ID!) { person(id: $id) { id username idNumberMasked phoneMasked } }"
PERSONAL_DATA = "query($id: ID!) { personalData(personId: $id) { idNumber phone documentType } }"
UNLOCK = "mutation($id: ID!) { unlockAccount(personId: $id) { person { id username } errors { code } } }"
BIND = 'mutation($k: String!) { bindPhone(publicKey: $k, deviceName: "t") { credential { id } errors { code } } }'
REGISTER = """mutation($code: String!, $input: VisitorDetailsInput!) {
  completeVisitorRegistration(inviteCode: $code, input: $input) { session { accessToken } errors { code field } } }"""


# --------------------------------------------------------------------------- helpers


def codes(answer: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]


def user_errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e.get("field")) for e in payload["errors"]]


def nodes(connection: dict[str, Any]) -> list[Any]:
    """The rows of a connection's page."""
    return [edge["node"] for edge in connection["edges"]]


def actor_id(entry: dict[str, Any]) -> str | None:
    """The id of an audit entry's actor; None when nobody was signed in."""
    return entry["actor"]["id"] if entry["actor"] else None


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


class World(harness.World):
    """A fresh copy of the demo site on its own server: nothing leaks between tests."""

    async def scan(self, username: str, gate_name: str, direction: str | None = "IN") -> dict[str, Any]:
        if self.device_ is None:
            await self.connect_device()
        p = await self.pass_of(username)
        both = gate_name in ("Engineering door", "Finance door")
        return await self.device.scan(self.gate(gate_name), await p.token(), direction if both else None)

    async def grant(self, as_: str, **input: Any) -> dict[str, Any]:
        data = await self.api.ok(GRANT, {"input": input}, as_=as_)
        payload: dict[str, Any] = data["grantAccess"]
        return payload

    async def audit(self, action: str | None = None, first: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first."""
        data = await self.api.ok(AUDIT, {"first": first, "action": action}, as_="admin")
        return [e["node"] for e in data["auditLog"]["edges"]]

    async def last_audit_id(self) -> int:
        entries = await self.audit(first=1)
        return int(entries[0]["id"]) if entries else 0

    def db(self) -> sqlite3.Connection:
        url = self.site.env["GATEHOUSE_DATABASE_URL"]
        return sqlite3.connect(url.removeprefix("sqlite://"), timeout=10)


@pytest.fixture
async def world(server: ServerProcess, sqlite_site: Site) -> AsyncIterator[World]:
    w = World(sqlite_site, server, OPERATIONS)
    try:
        yield w
    finally:
        await w.close()


def hhmm(value: datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def window_excluding_now() -> dict[str, Any]:
    """A window on today's weekday (UTC, the tests' site time zone) that does not contain now."""
    now = datetime.now(UTC)
    if now.hour >= 2:
        return {"weekdays": [now.isoweekday()], "start": "00:00", "end": hhmm(now - timedelta(hours=1))}
    return {"weekdays": [now.isoweekday()], "start": f"{now.hour + 2:02d}:00", "end": "23:00"}


def window_containing_now() -> dict[str, Any]:
    """A window on today's weekday around now, at least an hour wide on either side where it can be."""
    now = datetime.now(UTC)
    if now.hour <= 21:
        return {"weekdays": [now.isoweekday()], "start": f"{now.hour:02d}:00", "end": f"{now.hour + 2:02d}:00"}
    return {"weekdays": [now.isoweekday()], "start": f"{now.hour:02d}:00", "end": "02:00"}  # a night window


# =========================================================================== schedules


async def test_a_schedule_window_decides_when_a_grant_opens(world: World) -> None:
    eng = world.ids.zones["Engineering office"]
    bob = world.ids.people["bob"]
    # Bob (Finance) has no way into the Engineering office by himself.
    first = await world.scan("bob", "Engineering door")
    assert (first["granted"], first["reason"]) == (False, "no_access")

    closed = await world.grant("admin", zoneId=eng, personId=bob, schedule=[window_excluding_now()])
    assert closed["errors"] == [], closed
    reply = await world.scan("bob", "Engineering door")
    assert (reply["granted"], reply["reason"]) == (False, "outside_schedule")

    revoked = await world.api.ok(REVOKE, {"id": closed["grant"]["id"]}, as_="admin")
    assert revoked["revokeGrant"]["errors"] == []
    open_now = await world.grant("admin", zoneId=eng, personId=bob, schedule=[window_containing_now()])
    assert open_now["errors"] == [], open_now
    reply = await world.scan("bob", "Engineering door")
    assert (reply["granted"], reply["reason"]) == (True, "ok")
    assert reply["person"] == {"displayName": "Bob Wang"}


async def test_a_schedule_is_validated_on_grant(world: World) -> None:
    eng = world.ids.zones["Engineering office"]
    for window in (
        {"weekdays": [8], "start": "08:00", "end": "18:00"},
        {"weekdays": [], "start": "08:00", "end": "18:00"},
        {"weekdays": [1], "start": "25:00", "end": "18:00"},
        {"weekdays": [1], "start": "08:00", "end": "08:00"},
    ):
        payload = await world.grant("admin", zoneId=eng, personId=world.ids.people["bob"], schedule=[window])
        assert payload["grant"] is None
        assert user_errors(payload) == [("INVALID", "schedule")], window
    grants = await world.api.ok(PERSON_GRANTS, {"p": world.ids.people["bob"]}, as_="admin")
    assert [g["zone"]["name"] for g in grants["grants"]] == ["Finance office"]


# =========================================================================== position grants


async def test_a_position_grant_opens_for_everyone_holding_the_position(world: World) -> None:
    mgmt = world.ids.zones["Management area"]
    before = await world.scan("bob", "Management door")
    assert (before["granted"], before["reason"]) == (False, "no_access")

    payload = await world.grant("admin", zoneId=mgmt, position="Accountant")
    assert payload["errors"] == [], payload
    assert payload["grant"]["zone"]["name"] == "Management area"
    assert payload["grant"]["person"] is None

    reply = await world.scan("bob", "Management door")
    assert (reply["granted"], reply["reason"]) == (True, "ok")
    other = await world.scan("alice", "Management door")  # an Engineer, not an Accountant
    assert (other["granted"], other["reason"]) == (False, "no_access")


async def test_only_grantors_give_position_grants(world: World) -> None:
    mgmt = world.ids.zones["Management area"]
    for who in ("hr", "guard", "alice"):
        answer = await world.api.raw(GRANT, {"input": {"zoneId": mgmt, "position": "Accountant"}}, as_=who)
        assert codes(answer) == ["FORBIDDEN"], (who, answer)
        assert answer["data"] is None
    # A department head grants only within their department: a position spans departments.
    eng = world.ids.zones["Engineering office"]
    answer = await world.api.raw(GRANT, {"input": {"zoneId": eng, "position": "Engineer"}}, as_="carol")
    assert codes(answer) == ["FORBIDDEN"], answer
    reply = await world.scan("bob", "Management door")
    assert reply["reason"] == "no_access"


# =========================================================================== department-head scope


async def test_department_head_grants_within_their_department_only(world: World) -> None:
    eng, fin = world.ids.zones["Engineering office"], world.ids.zones["Finance office"]
    alice, bob = world.ids.people["alice"], world.ids.people["bob"]

    own = await world.grant("carol", zoneId=eng, personId=alice)
    assert own["errors"] == [], own
    assert own["grant"]["zone"]["name"] == "Engineering office"
    assert own["grant"]["person"] == {"id": alice}

    other_person = await world.api.raw(GRANT, {"input": {"zoneId": eng, "personId": bob}}, as_="carol")
    assert codes(other_person) == ["FORBIDDEN"]
    assert other_person["data"] is None

    before = await world.api.ok(PERSON_GRANTS, {"p": alice}, as_="admin")
    other_zone = await world.grant("carol", zoneId=fin, personId=alice)
    assert other_zone["grant"] is None
    assert user_errors(other_zone) == [("NOT_ALLOWED", "zoneId")]
    after = await world.api.ok(PERSON_GRANTS, {"p": alice}, as_="admin")
    assert after == before
    assert sorted(g["zone"]["name"] for g in after["grants"]) == ["Engineering office", "Engineering office"]
    refused = await world.scan("alice", "Finance door")
    assert refused["reason"] == "no_access"


async def test_department_head_sees_and_changes_their_own_people_only(world: World) -> None:
    people = await world.api.ok(PEOPLE, as_="carol")
    assert sorted(e["node"]["username"] for e in people["people"]["edges"]) == ["alice", "carol"]
    assert {e["node"]["department"]["name"] for e in people["people"]["edges"]} == {"Engineering"}

    alice = await world.api.ok(PERSON, {"id": world.ids.people["alice"]}, as_="carol")
    assert alice["person"]["username"] == "alice"
    bob = await world.api.raw(PERSON, {"id": world.ids.people["bob"]}, as_="carol")
    assert codes(bob) == ["FORBIDDEN"]
    assert bob["data"] == {"person": None}

    # The Finance department's grant is not hers to review or revoke.
    fin_grant = next(
        g
        for g in (await world.api.ok(PERSON_GRANTS, {"p": world.ids.people["bob"]}, as_="admin"))["grants"]
        if g["department"] and g["department"]["name"] == "Finance"
    )
    for mutation in (REVOKE, MARK_REVIEWED):
        answer = await world.api.raw(mutation, {"id": fin_grant["id"]}, as_="carol")
        assert codes(answer) == ["FORBIDDEN"], answer
    still = await world.api.ok(PERSON_GRANTS, {"p": world.ids.people["bob"]}, as_="admin")
    assert fin_grant in still["grants"]
    reply = await world.scan("bob", "Finance door")
    assert (reply["granted"], reply["reason"]) == (True, "ok")


async def test_department_head_review_shows_only_their_own_people(world: World) -> None:
    answer = await world.api.raw(REVIEW, {"z": world.ids.zones["Finance office"]}, as_="carol")
    if answer.get("errors"):
        assert codes(answer) == ["FORBIDDEN"]
        return
    departments = {line["person"]["department"]["name"] for line in nodes(answer["data"]["zoneAccessReview"])}
    assert departments <= {"Engineering"}, answer


# =========================================================================== maintenance access requests


async def test_a_maintenance_request_is_decided_by_the_areas_responsible_head(world: World) -> None:
    maint = world.ids.zones["Maintenance area"]
    asked = await world.api.ok(REQUEST, {"z": maint, "r": "replace the pump filter", "d": 2}, as_="alice")
    payload = asked["requestZoneAccess"]
    assert payload["errors"] == [], payload
    request = payload["request"]
    assert request["status"] == "PENDING"
    assert (request["days"], request["reason"]) == (2, "replace the pump filter")
    assert request["person"] == {"username": "alice"}
    assert request["zone"] == {"name": "Maintenance area"}

    again = await world.api.ok(REQUEST, {"z": maint, "r": "again", "d": 1}, as_="alice")
    assert user_errors(again["requestZoneAccess"]) == [("CONFLICT", "zoneId")]

    denied = await world.scan("alice", "Maintenance door")
    assert (denied["granted"], denied["reason"]) == (False, "no_access")

    for who in ("alice", "bob", "carol", "hr"):
        answer = await world.api.raw(APPROVE, {"id": request["id"]}, as_=who)
        assert codes(answer) == ["FORBIDDEN"], (who, answer)
    assert nodes((await world.api.ok(TO_DECIDE, as_="carol"))["accessRequestsToDecide"]) == []

    to_decide = nodes((await world.api.ok(TO_DECIDE, as_="security"))["accessRequestsToDecide"])
    assert to_decide == [
        {
            "id": request["id"],
            "status": "PENDING",
            "person": {"username": "alice"},
            "zone": {"name": "Maintenance area"},
        }
    ]
    before = datetime.now(UTC)
    approved = (await world.api.ok(APPROVE, {"id": request["id"]}, as_="security"))["approveAccessRequest"]
    after = datetime.now(UTC)
    assert approved["errors"] == [], approved
    assert approved["request"]["status"] == "APPROVED"
    grant = approved["request"]["grant"]
    assert grant["zone"] == {"name": "Maintenance area"}
    assert grant["person"] == {"username": "alice"}
    assert before - timedelta(seconds=5) <= instant(grant["validFrom"]) <= after + timedelta(seconds=5)
    until = instant(grant["validUntil"])
    assert before + timedelta(days=2) - timedelta(seconds=5) <= until <= after + timedelta(days=2, seconds=5)
    assert nodes((await world.api.ok(TO_DECIDE, as_="security"))["accessRequestsToDecide"]) == []

    reply = await world.scan("alice", "Maintenance door")
    assert (reply["granted"], reply["reason"]) == (True, "ok")

    # Approving again changes nothing; rejecting an approved request is refused.
    repeat = (await world.api.ok(APPROVE, {"id": request["id"]}, as_="security"))["approveAccessRequest"]
    assert repeat["request"]["grant"]["id"] == grant["id"]
    rejected = (await world.api.ok(REJECT, {"id": request["id"]}, as_="security"))["rejectAccessRequest"]
    assert [e["code"] for e in rejected["errors"]] == ["NOT_ALLOWED"]
    mine = await world.api.ok("{ myAccessRequests { edges { node { id status } } } }", as_="alice")
    assert nodes(mine["myAccessRequests"]) == [{"id": request["id"], "status": "APPROVED"}]


async def test_requests_are_for_maintenance_areas_only(world: World) -> None:
    for zone in ("Engineering office", "Management area", "Lobby"):
        asked = await world.api.ok(REQUEST, {"z": world.ids.zones[zone], "r": "please", "d": 2}, as_="bob")
        assert asked["requestZoneAccess"]["request"] is None
        assert user_errors(asked["requestZoneAccess"]) == [("NOT_ALLOWED", "zoneId")], zone
    maint = world.ids.zones["Maintenance area"]
    for days in (0, 31):
        asked = await world.api.ok(REQUEST, {"z": maint, "r": "please", "d": days}, as_="bob")
        assert user_errors(asked["requestZoneAccess"]) == [("INVALID", "days")]
    asked = await world.api.ok(REQUEST, {"z": "999999", "r": "please", "d": 1}, as_="bob")
    assert user_errors(asked["requestZoneAccess"]) == [("NOT_FOUND", "zoneId")]
    assert (
        nodes((await world.api.ok("{ myAccessRequests { edges { node { id } } } }", as_="bob"))["myAccessRequests"])
        == []
    )


async def test_a_rejected_request_grants_nothing_and_nobody_decides_their_own(world: World) -> None:
    maint = world.ids.zones["Maintenance area"]
    bob_req = (await world.api.ok(REQUEST, {"z": maint, "r": "audit the meters", "d": 1}, as_="bob"))[
        "requestZoneAccess"
    ]["request"]
    rejected = (await world.api.ok(REJECT, {"id": bob_req["id"]}, as_="security"))["rejectAccessRequest"]
    assert rejected["errors"] == []
    assert (rejected["request"]["status"], rejected["request"]["grant"]) == ("REJECTED", None)
    late = (await world.api.ok(APPROVE, {"id": bob_req["id"]}, as_="security"))["approveAccessRequest"]
    assert [e["code"] for e in late["errors"]] == ["NOT_ALLOWED"]
    assert (await world.scan("bob", "Maintenance door"))["reason"] == "no_access"

    # The responsible head asks for the area himself: he may not decide it, an admin may.
    own = (await world.api.ok(REQUEST, {"z": maint, "r": "inspection", "d": 1}, as_="security"))["requestZoneAccess"][
        "request"
    ]
    answer = await world.api.raw(APPROVE, {"id": own["id"]}, as_="security")
    assert codes(answer) == ["FORBIDDEN"]
    by_admin = (await world.api.ok(APPROVE, {"id": own["id"]}, as_="admin"))["approveAccessRequest"]
    assert by_admin["request"]["status"] == "APPROVED"


# =========================================================================== access reviews


def _lines(review: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(x["person"]["username"], x["via"], x["grant"]["zone"]["name"]) for x in nodes(review["zoneAccessReview"])]


def _shift(db: sqlite3.Connection, column: str, by: timedelta, where: str = "1=1") -> None:
    """Move a stored instant (Tortoise keeps them as text, 'YYYY-MM-DD HH:MM:SS.ffffff+00:00')."""
    rows = db.execute(f"SELECT id, {column} FROM access_grant WHERE {where}").fetchall()
    for gid, text in rows:
        moved = (datetime.fromisoformat(text) + by).isoformat(sep=" ", timespec="microseconds")
        db.execute(f"UPDATE access_grant SET {column} = ? WHERE id = ?", (moved, gid))
    db.commit()


async def test_zone_access_review_lists_who_may_enter_and_why(world: World) -> None:
    members = world.ids.members
    assert members["Engineering"] == ["alice", "carol"]
    assert {"admin", "security", "guard"} <= set(members["Security"])
    eng = world.ids.zones["Engineering office"]
    review = await world.api.ok(REVIEW, {"z": eng}, as_="security")
    # The Engineering department's grant, and the Security department's Lobby grant (an ancestor's grant
    # opens the gates of its sub-zones); grants in order of creation, people by id.
    security_via_lobby = [(u, "DEPARTMENT", "Lobby") for u in members["Security"]]
    assert _lines(review) == [
        ("alice", "DEPARTMENT", "Engineering office"),
        ("carol", "DEPARTMENT", "Engineering office"),
        *security_via_lobby,
    ]
    # The Engineering head reviews the same zone but sees only her department's people.
    assert _lines(await world.api.ok(REVIEW, {"z": eng}, as_="carol")) == [
        ("alice", "DEPARTMENT", "Engineering office"),
        ("carol", "DEPARTMENT", "Engineering office"),
    ]

    await world.grant("admin", zoneId=world.ids.zones["Management area"], position="Accountant")
    mgmt = await world.api.ok(REVIEW, {"z": world.ids.zones["Management area"]}, as_="security")
    assert _lines(mgmt) == [
        *security_via_lobby,
        ("carol", "PERSON", "Management area"),
        ("bob", "POSITION", "Management area"),
    ]
    # The Lobby's own review: every grant below it opens the way in.
    lobby = await world.api.ok(REVIEW, {"z": world.ids.zones["Lobby"]}, as_="security")
    by_department = {(u, "DEPARTMENT") for d in ("Engineering", "Finance", "Security") for u in members[d]}
    assert {(u, v) for u, v, _ in _lines(lobby)} == by_department | {
        ("carol", "PERSON"),
        ("dave", "PERSON"),
        ("bob", "POSITION"),
    }
    assert len(_lines(lobby)) == len(by_department) + 3
    assert nodes((await world.api.ok(REVIEW, {"z": "999999"}, as_="security"))["zoneAccessReview"]) == []
    denied = await world.api.raw(REVIEW, {"z": eng}, as_="hr")
    assert codes(denied) == ["FORBIDDEN"]


async def test_grants_due_for_review_and_marking_them_reviewed(world: World) -> None:
    assert nodes((await world.api.ok(DUE, as_="security"))["grantsDueForReview"]) == []
    eng_grant = next(
        g
        for g in (await world.api.ok(PERSON_GRANTS, {"p": world.ids.people["alice"]}, as_="admin"))["grants"]
        if g["department"] and g["department"]["name"] == "Engineering"
    )
    with world.db() as db:
        _shift(db, "review_due_at", timedelta(days=-91), f"id = {int(eng_grant['id'])}")
    due = nodes((await world.api.ok(DUE, as_="carol"))["grantsDueForReview"])
    assert due == [{"id": eng_grant["id"], "zone": {"name": "Engineering office"}}]

    before = datetime.now(UTC)
    marked = await world.api.ok(MARK_REVIEWED, {"id": eng_grant["id"]}, as_="carol")
    assert marked["markGrantReviewed"] == {"grant": {"id": eng_grant["id"]}, "errors": []}
    assert nodes((await world.api.ok(DUE, as_="security"))["grantsDueForReview"]) == []

    with world.db() as db:
        reviewed_at, reviewed_by, due_at = db.execute(
            "SELECT reviewed_at, reviewed_by_id, review_due_at FROM access_grant WHERE id = ?", (int(eng_grant["id"]),)
        ).fetchone()
    assert reviewed_by == int(world.ids.people["carol"])
    assert before - timedelta(seconds=5) <= datetime.fromisoformat(reviewed_at) <= datetime.now(UTC)
    assert datetime.fromisoformat(due_at) - datetime.fromisoformat(reviewed_at) == timedelta(days=90)

    entry = (await world.audit("markGrantReviewed"))[0]
    assert (actor_id(entry), entry["targetType"], entry["targetId"]) == (
        world.ids.people["carol"],
        "grant",
        eng_grant["id"],
    )
    assert entry["detail"]["changes"][0]["after"]["reviewedBy"] == int(world.ids.people["carol"])
    assert datetime.fromisoformat(entry["detail"]["changes"][0]["after"]["reviewedAt"]) == datetime.fromisoformat(
        reviewed_at
    )

    revoked = await world.api.ok(REVOKE, {"id": eng_grant["id"]}, as_="admin")
    assert revoked["revokeGrant"]["errors"] == []
    again = await world.api.ok(MARK_REVIEWED, {"id": eng_grant["id"]}, as_="admin")
    assert user_errors(again["markGrantReviewed"]) == [("NOT_ALLOWED", "id")]


async def test_unused_grants(world: World) -> None:
    # Grants younger than the window are never "unused": created_at must be before now - days.
    assert nodes((await world.api.ok(UNUSED, {"d": 1}, as_="security"))["unusedGrants"]) == []
    with world.db() as db:
        _shift(db, "created_at", timedelta(days=-10))
    unused = nodes((await world.api.ok(UNUSED, {"d": 1}, as_="security"))["unusedGrants"])
    assert sorted(g["zone"]["name"] for g in unused) == [
        "Engineering office",
        "Finance office",
        "Lobby",
        "Maintenance area",
        "Management area",
    ]
    # Alice goes into the Engineering office: her department's grant is used.
    reply = await world.scan("alice", "Engineering door")
    assert reply["granted"] is True
    # A refused passage (bob at the Engineering door) uses nothing.
    assert (await world.scan("bob", "Engineering door"))["granted"] is False
    unused = nodes((await world.api.ok(UNUSED, {"d": 1}, as_="security"))["unusedGrants"])
    assert sorted(g["zone"]["name"] for g in unused) == [
        "Finance office",
        "Lobby",
        "Maintenance area",
        "Management area",
    ]
    # A Lobby passage of a Security member uses the Lobby grant.
    assert (await world.scan("guard", "Lobby turnstile in"))["granted"] is True
    unused = nodes((await world.api.ok(UNUSED, {"d": 1}, as_="security"))["unusedGrants"])
    assert sorted(g["zone"]["name"] for g in unused) == ["Finance office", "Maintenance area", "Management area"]
    # A department head sees only their department's grants and their people's (carol's own grant).
    mine = nodes((await world.api.ok(UNUSED, {"d": 1}, as_="carol"))["unusedGrants"])
    assert sorted(g["zone"]["name"] for g in mine) == ["Management area"]
    # A revoked grant is not listed.
    fin = next(g for g in unused if g["zone"]["name"] == "Finance office")
    await world.api.ok(REVOKE, {"id": fin["id"]}, as_="admin")
    unused = nodes((await world.api.ok(UNUSED, {"d": 1}, as_="security"))["unusedGrants"])
    assert sorted(g["zone"]["name"] for g in unused) == ["Maintenance area", "Management area"]


# =========================================================================== offboarding


async def test_offboarding_ends_passes_sessions_and_tells_the_gates(world: World) -> None:
    w = world
    # A device that decides offline holds credentials: it is the one told of revocations.
    await w.connect_device(OfflineGate)
    session = await w.api.sign_in("alice", w.demo.passwords["alice"])
    assert session["errors"] == []
    old_access, old_refresh = session["session"]["accessToken"], session["session"]["refreshToken"]
    w.api.tokens["alice"] = old_access
    alice_pass = await w.pass_of("alice")
    assert (await w.scan("alice", "Engineering door"))["granted"] is True
    own = await w.grant("admin", zoneId=w.ids.zones["Management area"], personId=w.ids.people["alice"])
    assert own["errors"] == []

    answer = await w.api.op("OffboardEmployee", {"id": w.ids.people["alice"]}, as_="hr")
    assert answer["data"]["offboardEmployee"] == {
        "employee": {"id": w.ids.people["alice"], "status": "OFFBOARDED"},
        "errors": [],
    }
    frame = await w.device.recv_type("revoke")
    assert frame == {"type": "revoke", "credentialIds": [alice_pass.phone.cid]}

    reply = await w.scan("alice", "Engineering door")
    assert (reply["granted"], reply["reason"]) == (False, "revoked")
    # Still inside: she may leave (contracts/README.md), flagged to guards.
    out = await w.scan("alice", "Lobby turnstile out")
    assert (out["granted"], out["reason"]) == (True, "exit_after_revocation")

    login = await w.api.sign_in("alice", w.demo.passwords["alice"])
    assert login["session"] is None
    assert [e["code"] for e in login["errors"]] == ["NOT_ALLOWED"]
    wrong = await w.api.sign_in("alice", "not-her-password")
    assert [e["code"] for e in wrong["errors"]] == ["INVALID"]

    refreshed = await w.api.op("RefreshSession", {"refreshToken": old_refresh})
    assert refreshed["data"]["refreshSession"]["session"] is None
    assert [e["code"] for e in refreshed["data"]["refreshSession"]["errors"]] == ["INVALID"]

    me = await w.api.raw("{ me { id } }", as_=old_access)
    assert codes(me) == ["UNAUTHENTICATED"]

    with w.db() as db:
        (revoked_at,) = db.execute(
            "SELECT revoked_at FROM access_grant WHERE id = ?", (int(own["grant"]["id"]),)
        ).fetchone()
        (sessions_left,) = db.execute(
            "SELECT count(*) FROM refresh_session WHERE person_id = ? AND revoked_at IS NULL",
            (int(w.ids.people["alice"]),),
        ).fetchone()
    assert revoked_at is not None
    assert sessions_left == 0

    # Offboarding again changes nothing and sends nothing more.
    repeat = await w.api.op("OffboardEmployee", {"id": w.ids.people["alice"]}, as_="hr")
    assert repeat["data"]["offboardEmployee"]["employee"]["status"] == "OFFBOARDED"
    with pytest.raises(asyncio.TimeoutError):
        await w.device.recv_type("revoke", timeout=1.5)


async def test_offboarding_revokes_the_persons_own_grants(world: World) -> None:
    granted = await world.grant("admin", zoneId=world.ids.zones["Management area"], personId=world.ids.people["bob"])
    assert granted["errors"] == []
    await world.api.op("OffboardEmployee", {"id": world.ids.people["bob"]}, as_="admin")
    with world.db() as db:
        revoked_at = db.execute(
            "SELECT revoked_at FROM access_grant WHERE id = ?", (int(granted["grant"]["id"]),)
        ).fetchone()[0]
    assert revoked_at is not None
    review = await world.api.ok(REVIEW, {"z": world.ids.zones["Management area"]}, as_="security")
    assert "bob" not in {u for u, _, _ in _lines(review)}


# =========================================================================== audit log


def _input(department_id: str, username: str, id_number: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "displayName": f"Test {username}",
        "idNumber": id_number,
        "phone": phone,
        "departmentId": department_id,
        "position": "Tester",
        "username": username,
        **extra,
    }


async def test_console_mutations_are_audited_with_redacted_input_and_changes(world: World) -> None:
    admin_id = world.ids.people["admin"]
    id_number = make_prc_id("310104", "19900315", "321")
    onboarded = await world.api.op(
        "OnboardEmployee",
        {"input": _input(world.ids.departments["Engineering"], "erin", id_number, "+8613912345678")},
        as_="admin",
    )
    employee = onboarded["data"]["onboardEmployee"]["employee"]
    assert onboarded["data"]["onboardEmployee"]["errors"] == []
    granted = await world.api.op(
        "GrantAccess",
        {"input": {"zoneId": world.ids.zones["Management area"], "personId": employee["id"]}},
        as_="admin",
    )
    grant = granted["data"]["grantAccess"]["grant"]
    offboarded = await world.api.op("OffboardEmployee", {"id": employee["id"]}, as_="admin")
    assert offboarded["data"]["offboardEmployee"]["errors"] == []
    fin = world.ids.zones["Finance office"]
    updated = await world.api.op(
        "UpdateZone", {"id": fin, "input": {"name": "Finance wing", "antiPassback": "SOFT"}}, as_="admin"
    )
    assert updated["data"]["updateZone"]["errors"] == []

    entries = await world.audit()
    by_action = {e["action"]: e for e in reversed(entries)}  # the newest of each action
    for action in ("onboardEmployee", "grantAccess", "offboardEmployee", "updateZone"):
        e = by_action[action]
        assert (actor_id(e), e["actorName"], e["address"], e["outcome"]) == (admin_id, "Ada Admin", "127.0.0.1", "ok")
        assert instant(e["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert [e["action"] for e in entries[:4]] == ["updateZone", "offboardEmployee", "grantAccess", "onboardEmployee"]

    kept = by_action["onboardEmployee"]["detail"]["arguments"]["input"]
    assert kept["idNumber"] == "<redacted>"
    assert kept["phone"] == "<redacted>"
    assert (kept["username"], kept["displayName"]) == ("erin", "Test erin")
    assert id_number not in json.dumps(entries) and "13912345678" not in json.dumps(entries)

    g = by_action["grantAccess"]
    assert (g["targetType"], g["targetId"]) == ("grant", grant["id"])
    assert g["detail"]["arguments"] == {
        "input": {"zoneId": world.ids.zones["Management area"], "personId": employee["id"]}
    }
    [change] = g["detail"]["changes"]
    assert change["before"] is None
    assert change["after"]["zone"] == int(world.ids.zones["Management area"])
    assert change["after"]["person"] == int(employee["id"])

    o = by_action["offboardEmployee"]
    assert (o["targetType"], o["targetId"]) == ("person", employee["id"])
    assert o["detail"]["changes"] == [
        {"type": "person", "id": employee["id"], "before": {"status": "ACTIVE"}, "after": {"status": "OFFBOARDED"}}
    ]

    u = by_action["updateZone"]
    assert (u["targetType"], u["targetId"]) == ("zone", fin)
    [zone_change] = u["detail"]["changes"]
    assert (zone_change["before"]["name"], zone_change["after"]["name"]) == ("Finance office", "Finance wing")
    assert (zone_change["before"]["antiPassback"], zone_change["after"]["antiPassback"]) == ("OFF", "SOFT")
    assert zone_change["before"]["parent"] == zone_change["after"]["parent"] == int(world.ids.zones["Lobby"])


async def test_refused_and_forbidden_mutations_are_audited(world: World) -> None:
    refused = await world.grant("admin", zoneId="999999", personId=world.ids.people["bob"])
    assert user_errors(refused) == [("NOT_FOUND", "zoneId")]
    forbidden = await world.api.raw(
        GRANT, {"input": {"zoneId": world.ids.zones["Lobby"], "personId": world.ids.people["bob"]}}, as_="hr"
    )
    assert codes(forbidden) == ["FORBIDDEN"]
    entries = await world.audit("grantAccess")
    assert [(actor_id(e), e["actorName"], e["outcome"]) for e in entries[:2]] == [
        (world.ids.people["hr"], "Hana HR", "error:FORBIDDEN"),
        (world.ids.people["admin"], "Ada Admin", "refused:NOT_FOUND"),
    ]
    assert all(e["detail"]["changes"] == [] for e in entries[:2])
    assert entries[1]["detail"]["arguments"]["input"]["zoneId"] == "999999"

    # A signed-out mutation is audited too, without an actor.
    anonymous = await world.api.raw(GRANT, {"input": {"zoneId": world.ids.zones["Lobby"]}})
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    latest = (await world.audit("grantAccess"))[0]
    assert (actor_id(latest), latest["outcome"]) == (None, "error:UNAUTHENTICATED")


async def test_the_audit_log_refuses_update_and_delete(world: World) -> None:
    await world.grant("admin", zoneId="999999", personId=world.ids.people["bob"])
    with world.db() as db:
        (count,) = db.execute("SELECT count(*) FROM audit_entry").fetchone()
        assert count >= 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_entry SET outcome = 'ok'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_entry")
        assert db.execute("SELECT count(*) FROM audit_entry").fetchone() == (count,)


CONSOLE_MUTATIONS = [
    "CreateDepartment",
    "CreateZone",
    "CreateGate",
    "RegisterDevice",
    "OnboardEmployee",
    "GrantAccess",
    "OffboardEmployee",
    "UpdateZone",
    "RevokeGrant",
]


async def test_an_auditor_reads_the_log_and_changes_nothing(world: World) -> None:
    made = await world.api.op(
        "OnboardEmployee",
        {
            "input": _input(
                world.ids.departments["Security"],
                "audra",
                make_prc_id("310104", "19900315", "654"),
                "+8613911112222",
                roles=["AUDITOR"],
            )
        },
        as_="admin",
    )
    payload = made["data"]["onboardEmployee"]
    assert payload["errors"] == []
    login = await world.api.sign_in("audra", payload["initialPassword"])
    auditor = login["session"]["accessToken"]

    log = await world.api.ok(AUDIT, {"first": 5, "action": "onboardEmployee"}, as_=auditor)
    assert log["auditLog"]["edges"][0]["node"]["detail"]["arguments"]["input"]["username"] == "audra"

    eng, lobby = world.ids.zones["Engineering office"], world.ids.zones["Lobby"]
    grant_id = (await world.api.ok(PERSON_GRANTS, {"p": world.ids.people["bob"]}, as_="admin"))["grants"][0]["id"]
    variables: dict[str, dict[str, Any]] = {
        "CreateDepartment": {"input": {"name": "Audit"}},
        "CreateZone": {"input": {"name": "Vault", "parentId": lobby}},
        "CreateGate": {"input": {"name": "Vault door", "zoneId": eng, "direction": "IN"}},
        "RegisterDevice": {"input": {"name": "x", "kind": "QR_SCANNER", "gateIds": [world.demo.gates["Finance door"]]}},
        "OnboardEmployee": {
            "input": _input(
                world.ids.departments["Finance"], "zed", make_prc_id("310104", "19900315", "655"), "+8613900000655"
            )
        },
        "GrantAccess": {"input": {"zoneId": eng, "personId": world.ids.people["bob"]}},
        "OffboardEmployee": {"id": world.ids.people["bob"]},
        "UpdateZone": {"id": eng, "input": {"name": "Renamed"}},
        "RevokeGrant": {"id": grant_id},
    }
    for name in CONSOLE_MUTATIONS:
        answer = await world.api.op(name, variables[name], as_=auditor)
        assert codes(answer) == ["FORBIDDEN"], (name, answer)
        assert answer["data"] is None
    for query, variables_ in (
        (UNLOCK, {"id": world.ids.people["bob"]}),
        (PERSONAL_DATA, {"id": world.ids.people["bob"]}),
    ):
        assert codes(await world.api.raw(query, variables_, as_=auditor)) == ["FORBIDDEN"]

    entries = [e for e in await world.audit() if e["actorName"] == "Test audra"]
    assert len(entries) == len(CONSOLE_MUTATIONS) + 1  # + unlockAccount
    assert {e["outcome"] for e in entries} == {"error:FORBIDDEN"}
    # Nothing changed: bob is still active and his grant live, the zone keeps its name.
    assert (await world.scan("bob", "Finance door"))["granted"] is True
    zones = await world.api.ok("{ zones { name } }", as_="admin")
    assert "Renamed" not in {z["name"] for z in zones["zones"]} and "Vault" not in {z["name"] for z in zones["zones"]}


async def test_only_admins_and_auditors_read_the_audit_log(world: World) -> None:
    for who in ("alice", "hr", "security", "guard", "carol"):
        answer = await world.api.raw(AUDIT, {"first": 5}, as_=who)
        assert codes(answer) == ["FORBIDDEN"], who
        assert answer["data"] is None
    assert codes(await world.api.raw(AUDIT, {"first": 5})) == ["UNAUTHENTICATED"]


async def test_personal_data_is_unmasked_for_hr_and_every_read_is_audited(world: World) -> None:
    bob = world.ids.people["bob"]
    data = await world.api.ok(PERSONAL_DATA, {"id": bob}, as_="hr")
    assert data["personalData"] == {
        "idNumber": demo_id_number("bob"),
        "phone": demo_phone("bob"),
        "documentType": "ID_CARD",
    }
    [entry] = await world.audit("readPersonalData")
    assert (actor_id(entry), entry["actorName"], entry["address"]) == (world.ids.people["hr"], "Hana HR", "127.0.0.1")
    assert (entry["targetType"], entry["targetId"], entry["outcome"]) == ("person", bob, "ok")

    await world.api.ok(PERSONAL_DATA, {"id": world.ids.people["alice"]}, as_="admin")
    reads = await world.audit("readPersonalData")
    assert [(actor_id(e), e["targetId"]) for e in reads] == [
        (world.ids.people["admin"], world.ids.people["alice"]),
        (world.ids.people["hr"], bob),
    ]
    assert (await world.api.ok(PERSONAL_DATA, {"id": "999999"}, as_="hr"))["personalData"] is None


async def test_gate_staff_see_personal_data_masked_only(world: World) -> None:
    bob = world.ids.people["bob"]
    for who in ("guard", "security", "carol", "alice"):
        answer = await world.api.raw(PERSONAL_DATA, {"id": bob}, as_=who)
        assert codes(answer) == ["FORBIDDEN"], who
        assert answer["data"] == {"personalData": None}
    assert await world.audit("readPersonalData") == []

    seen = await world.api.raw(PERSON, {"id": bob}, as_="guard")
    person = seen["data"]["person"]
    full_id, full_phone = demo_id_number("bob"), demo_phone("bob")
    assert person["idNumberMasked"] == full_id[:3] + "*" * 11 + full_id[-4:]
    assert person["phoneMasked"] == full_phone[:3] + "*" * (len(full_phone) - 5) + full_phone[-2:]
    assert full_id not in json.dumps(seen) and full_phone[1:] not in json.dumps(seen)

    found = await world.api.ok(
        "query($n: String!) { peopleByIdNumber(idNumber: $n) { username idNumberMasked } }",
        {"n": full_id},
        as_="guard",
    )
    assert found["peopleByIdNumber"] == [{"username": "bob", "idNumberMasked": person["idNumberMasked"]}]


async def test_no_secret_reaches_the_audit_log_whatever_the_variable_is_called(world: World) -> None:
    password = world.demo.passwords["bob"]
    mark = await world.last_audit_id()
    answer = await world.api.raw(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } } }",
        {"u": "bob", "p": password},
    )
    assert answer["data"]["login"]["errors"] == []
    entries = [e for e in await world.audit("login") if int(e["id"]) > mark]
    assert len(entries) == 1
    assert password not in json.dumps(entries)


# =========================================================================== rate limits


async def test_five_wrong_passwords_delay_the_account_until_it_expires_or_an_admin_unlocks_it(world: World) -> None:
    # Issue 11: a delay that expires (extensions.retryAfter), no longer a lock only an admin lifts.
    for _ in range(5):
        wrong = await world.api.sign_in("alice", "wrong-password")
        assert [e["code"] for e in wrong["errors"]] == ["INVALID"]
    for password in ("wrong-password", world.demo.passwords["alice"]):
        locked = await world.api.raw(LOGIN, {"username": "alice", "password": password})
        assert codes(locked) == ["RATE_LIMITED"], locked
        assert 0 < locked["errors"][0]["extensions"]["retryAfter"] <= 30, locked
        assert locked["data"] is None
    # Another account from the same address is not locked.
    bob = await world.api.sign_in("bob", world.demo.passwords["bob"])
    assert bob["errors"] == []

    assert codes(await world.api.raw(UNLOCK, {"id": world.ids.people["alice"]}, as_="hr")) == ["FORBIDDEN"]
    unlocked = await world.api.ok(UNLOCK, {"id": world.ids.people["alice"]}, as_="admin")
    assert unlocked["unlockAccount"] == {"person": {"id": world.ids.people["alice"], "username": "alice"}, "errors": []}
    again = await world.api.sign_in("alice", world.demo.passwords["alice"])
    assert again["errors"] == [] and again["session"]["accessToken"]
    entry = (await world.audit("unlockAccount"))[0]
    assert (actor_id(entry), entry["targetType"], entry["targetId"]) == (
        world.ids.people["admin"],
        "person",
        world.ids.people["alice"],
    )
    assert entry["detail"]["changes"][0]["after"] == {"signInFailures": False}
    assert entry["detail"]["changes"][0]["before"] == {"signInFailures": True}


def _aliased_logins(n: int) -> str:
    fields = " ".join(
        f'l{i}: login(username: "nobody-{i}", password: "wrong") {{ errors {{ code }} }}' for i in range(n)
    )
    return f"mutation {{ {fields} }}"


async def test_an_aliased_login_flood_is_refused_before_any_attempt(world: World) -> None:
    mark = await world.last_audit_id()
    answer = await world.api.raw(_aliased_logins(25))
    # An anonymous operation that signs in many times at once is over its limits
    # (schema/core/limits.py): nothing of it runs, so no alias can dodge the address's count.
    assert codes(answer) == ["BAD_USER_INPUT"], answer
    assert answer["errors"][0]["extensions"]["limit"], answer
    assert not answer.get("data")
    assert [e for e in await world.audit("login") if int(e["id"]) > mark] == []
    # Nothing was counted against the address either.
    bob = await world.api.sign_in("bob", world.demo.passwords["bob"])
    assert bob["errors"] == []
    # Tokens already issued keep working.
    assert (await world.api.ok("{ me { username } }", as_="admin"))["me"] == {"username": "admin"}


async def test_aliased_logins_are_audited_with_their_real_outcomes(world: World) -> None:
    mark = await world.last_audit_id()
    answer = await world.api.raw(_aliased_logins(4))
    assert "errors" not in answer, answer
    assert [answer["data"][f"l{i}"]["errors"] for i in range(4)] == [[{"code": "INVALID"}]] * 4
    entries = [e for e in reversed(await world.audit("login")) if int(e["id"]) > mark]  # oldest first
    assert [e["outcome"] for e in entries] == ["refused:INVALID"] * 4


async def test_ten_wrong_invite_codes_limit_the_address(world: World) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    invited = await world.api.op(
        "InviteVisitor",
        {
            "input": {
                "visitorName": "Vic Visitor",
                "phone": "+8613700000002",
                "purpose": "meeting",
                "expectedStart": start.isoformat(),
                "expectedEnd": (start + timedelta(hours=1)).isoformat(),
                "zoneIds": [world.ids.zones["Engineering office"]],
            }
        },
        as_="alice",
    )
    code = invited["data"]["inviteVisitor"]["visit"]["inviteCode"]
    details = {"idNumber": make_prc_id("310104", "19920101", "888")}
    for i in range(10):
        wrong = await world.api.raw(REGISTER, {"code": f"WRONG-CODE-{i:02d}", "input": details})
        payload = wrong["data"]["completeVisitorRegistration"]
        assert user_errors(payload) == [("INVALID", "inviteCode")], i
    limited = await world.api.raw(REGISTER, {"code": "WRONG-CODE-10", "input": details})
    assert codes(limited) == ["RATE_LIMITED"]
    assert limited["data"] is None
    # Even the right code waits now, and stays unused.
    right = await world.api.raw(REGISTER, {"code": code, "input": details})
    assert codes(right) == ["RATE_LIMITED"]
    # Sign-in has its own budget.
    assert (await world.api.sign_in("bob", world.demo.passwords["bob"]))["errors"] == []
