"""What a page costs in SQL does not grow with the page: every relation of a listed type is
read through a per-request loader (issue 10; netbox#18120 is what happens otherwise).

Each test asks the same document over a small and a large page (or site), on a real server
whose SQL log (GATEHOUSE_SQL_LOG) counts the statements, and pins the count: equal for both
sizes, and no more than today's. The upkeep loops would add statements of their own: the
server runs them hourly (GATEHOUSE_UPKEEP_SECONDS), and the command-retry tick (every second) and
the fleet check's round read only what no document here reads the same way: their statements are
left out of the count (tests/query_count.py BACKGROUND).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.demo import make_prc_id
from tests.harness import GraphQLClient, Phone, ServerProcess, Site
from tests.query_count import background, statements

PEOPLE = """
query People($first: Int!) {
  people(first: $first) {
    edges { node {
      id displayName
      department { id name head { id displayName } }
      pass { credentialId status }
      hostedVisits(first: 5) { edges { node { id status zones { id } } } pageInfo { hasNextPage endCursor } }
      accessLog(first: 2) { edges { node { id decision gate { id name } } } pageInfo { hasNextPage } }
    } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
AUDIT = """
query Audit($first: Int!) {
  auditLog(first: $first) { edges { node { id action actor { id displayName department { name } } } } }
}
"""
SITE = """
query Site {
  zones { id name parent { id name } }
  gates { id name zone { id name parent { id } } }
  devices { id name online gates { id zone { id } } }
}
"""
GRANTS = """
query Grants($personId: ID!) {
  grants(personId: $personId) { id zone { id name parent { id } } person { id displayName } department { id name } }
  grantsDueForReview(first: 100) { edges { node { id zone { id } person { id } department { id } } } }
  unusedGrants(days: 1, first: 100) { edges { node { id zone { id } person { id } department { id } } } }
}
"""
USERNAMES = "{ people(first: 100) { edges { node { id username } } } }"
PERSONAL_DATA = "query($id: ID!) { personalData(personId: $id) { idNumber } }"
HOSTED_AFTER = """
query($id: ID!, $after: String) { person(id: $id) { hostedVisits(first: 5, after: $after) {
  edges { node { id } } pageInfo { hasNextPage hasPreviousPage } } } }
"""
MANUAL_ENTRY = """
mutation($input: ManualEntryInput!) { recordManualEntry(input: $input) { event { id } errors { code message field } } }
"""
ONBOARD = """
mutation($input: OnboardEmployeeInput!) {
  onboardEmployee(input: $input) { employee { id } initialPassword errors { code message field } }
}
"""
INVITE = """
mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) { visit { id } errors { code message field } } }
"""
CREATE_ZONE = "mutation($input: CreateZoneInput!) { createZone(input: $input) { zone { id } errors { code field } } }"
CREATE_GATE = "mutation($input: CreateGateInput!) { createGate(input: $input) { gate { id } errors { code field } } }"
REGISTER = """
mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { device { id } errors { code field } } }
"""
GRANT = "mutation($input: GrantAccessInput!) { grantAccess(input: $input) { grant { id } errors { code field } } }"

# Pinned: what each document costs now. A change that adds a statement per row fails the
# equality; one that adds a constant statement fails the pin (raise it only knowingly).
PEOPLE_STATEMENTS = 11
AUDIT_STATEMENTS = 4
SITE_STATEMENTS = 7
GRANTS_STATEMENTS = 10


@dataclass
class Cost:
    """The statements of one request; compares by count, prints them all when a test fails."""

    lines: list[str]

    def __len__(self) -> int:
        return len(self.lines)

    def __eq__(self, other: object) -> bool:
        return len(self) == other if isinstance(other, int) else NotImplemented

    def __repr__(self) -> str:
        return f"{len(self)} statements:\n  " + "\n  ".join(self.lines)


@dataclass
class Measured:
    site: Site
    server: ServerProcess
    log: Path
    admin: GraphQLClient

    async def cost(self, query: str, variables: dict[str, Any] | None = None) -> tuple[Cost, Any]:
        """The statements one request costs (the least of three tries: a statement of the
        server's own can only add to a count), and its answer."""
        tries = []
        data: Any = None
        for _ in range(3):
            with statements(self.log) as seen:
                data = await self.admin.ok(query, variables)
            tries.append(Cost([line for line in seen.lines if not background(line)]))
        least = min(tries, key=len)
        assert len(least) > 0, "the SQL log recorded nothing: is GATEHOUSE_SQL_LOG honoured?"
        return least, data

    async def login(self, username: str, password: str | None = None) -> GraphQLClient:
        """A demo user (signed in on the session's template), or anyone signed in with `password`."""
        if password is None:
            return self.admin.user(username)
        return await self.admin.login(username, password)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.site.env["GATEHOUSE_DATABASE_URL"].removeprefix("sqlite://"), timeout=10)


@contextlib.asynccontextmanager
async def measured_site(site: Site) -> AsyncIterator[Measured]:
    """A copy of the demo site (sqlite_site or postgres_site) served with its SQL logged."""
    log = site.tmp / "sql.log"
    server = site.start_server(GATEHOUSE_SQL_LOG=str(log), GATEHOUSE_UPKEEP_SECONDS="3600")
    try:
        assert site.demo is not None
        yield Measured(site, server, log, GraphQLClient(server, demo=site.demo, as_="admin"))
    finally:
        site.stop()


@pytest.fixture
async def measured(sqlite_site: Site) -> AsyncIterator[Measured]:
    async with measured_site(sqlite_site) as m:
        yield m


def nodes(connection: dict[str, Any]) -> list[Any]:
    return [edge["node"] for edge in connection["edges"]]


async def ids_by_name(client: GraphQLClient, field: str) -> dict[str, str]:
    return {row["name"]: row["id"] for row in (await client.ok(f"{{ {field} {{ id name }} }}"))[field]}


async def invite(host: GraphQLClient, zone_id: str, n: int) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        variables = {
            "input": {
                "visitorName": f"Visitor {i}",
                "phone": f"+8613700{i:06d}",
                "purpose": "meeting",
                "expectedStart": start.isoformat(),
                "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                "zoneIds": [zone_id],
            }
        }
        payload = (await host.ok(INVITE, variables))["inviteVisitor"]
        assert payload["errors"] == [], payload


async def test_a_page_of_people_costs_the_same_for_5_and_50(measured: Measured) -> None:
    await people_page_costs_the_same_for_5_and_50(measured)


@pytest.mark.postgres
async def test_a_page_of_people_costs_the_same_for_5_and_50_on_postgres(postgres_site: Site) -> None:
    # The per-person pages are hand-written SQL (resolvers/people/batches.py): both dialects run it.
    async with measured_site(postgres_site) as m:
        await people_page_costs_the_same_for_5_and_50(m)


async def people_page_costs_the_same_for_5_and_50(measured: Measured) -> None:
    admin = measured.admin
    departments = await ids_by_name(admin, "departments")
    zones = await ids_by_name(admin, "zones")
    # The demo's people and as many more as make 50, in Engineering (whose grant lets them invite
    # visitors there): the last of them is the last on a page of 50.
    count = 50 - len(nodes((await admin.ok(USERNAMES))["people"]))
    last, last_name, before_name = f"worker{count - 1:02d}", f"Worker {count - 1:02d}", f"Worker {count - 2:02d}"
    passwords: dict[str, str] = {}
    id_numbers: dict[str, str] = {}
    workers: dict[str, str] = {}
    for i in range(count):
        employee = {
            "displayName": f"Worker {i:02d}",
            "idNumber": make_prc_id("110101", f"1990{1 + i % 12:02d}{1 + i % 28:02d}", f"{200 + i:03d}"),
            "phone": f"+86139{i:08d}",
            "departmentId": departments["Engineering"],
            "position": "Engineer",
            "username": f"worker{i:02d}",
        }
        payload = (await admin.ok(ONBOARD, {"input": employee}))["onboardEmployee"]
        assert payload["errors"] == [], payload
        passwords[employee["username"]] = payload["initialPassword"]
        id_numbers[employee["username"]] = employee["idNumber"]
        workers[employee["username"]] = payload["employee"]["id"]
    # Passes and hosted visits among the first five people (by id) and among the rest.
    for username in ("admin", "security", "alice", "carol"):
        await Phone().bind(await measured.login(username))
    for username in ("worker00", last):
        await Phone().bind(await measured.login(username, passwords[username]))
    await invite(await measured.login("alice"), zones["Engineering office"], 7)
    await invite(admin, zones["Lobby"], 2)
    await invite(await measured.login(last, passwords[last]), zones["Engineering office"], 3)
    # Passages: a guard lets the admin through three times and the last worker once, by the document in hand.
    gates = await ids_by_name(admin, "gates")
    people = {p["username"]: p["id"] for p in nodes((await admin.ok(USERNAMES))["people"])}
    personal = (await admin.ok(PERSONAL_DATA, {"id": people["admin"]}))["personalData"]
    id_numbers["admin"], workers["admin"] = personal["idNumber"], people["admin"]
    for username, times in (("admin", 3), (last, 1)):
        for _ in range(times):
            entry = {
                "personId": workers[username],
                "gateId": gates["Lobby turnstile out"],
                "direction": "OUT",
                "documentType": "ID_CARD",
                "documentNumberLast4": id_numbers[username][-4:],
            }
            payload = (await admin.ok(MANUAL_ENTRY, {"input": entry}))["recordManualEntry"]
            assert payload["errors"] == [], payload

    few, small = await measured.cost(PEOPLE, {"first": 5})
    many, large = await measured.cost(PEOPLE, {"first": 50})

    # The answers carry what was asked: the loaders return the right rows to the right people.
    small_people = {p["displayName"]: p for p in nodes(small["people"])}
    large_people = {p["displayName"]: p for p in nodes(large["people"])}
    assert len(small_people) == 5 and len(large_people) == 50
    assert small["people"]["pageInfo"]["hasNextPage"] is True
    assert large["people"]["pageInfo"]["hasPreviousPage"] is False
    alice = large_people["Alice Li"]
    assert (len(nodes(alice["hostedVisits"])), alice["hostedVisits"]["pageInfo"]["hasNextPage"]) == (5, True)
    assert alice["pass"]["status"] == "ACTIVE" and alice["department"]["head"]["displayName"] == "Carol Chen"
    assert len(nodes(large_people["Ada Admin"]["hostedVisits"])) == 2
    assert len(nodes(large_people[last_name]["hostedVisits"])) == 3
    assert large_people[last_name]["pass"]["status"] == "ACTIVE" and large_people[before_name]["pass"] is None
    assert sum(p["pass"] is not None for p in large_people.values()) == 6
    assert small_people["Ada Admin"] == large_people["Ada Admin"]
    log = large_people["Ada Admin"]["accessLog"]
    assert (len(nodes(log)), log["pageInfo"]["hasNextPage"]) == (2, True)
    assert {e["gate"]["name"] for e in nodes(log)} == {"Lobby turnstile out"}
    assert len(nodes(large_people[last_name]["accessLog"])) == 1
    assert nodes(large_people[before_name]["accessLog"]) == []
    # The next page of one person's hosted visits continues where the first stopped.
    after = alice["hostedVisits"]["pageInfo"]["endCursor"]
    rest = (await admin.ok(HOSTED_AFTER, {"id": alice["id"], "after": after}))["person"]["hostedVisits"]
    assert len(nodes(rest)) == 2 and rest["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    seen = {v["id"] for v in nodes(alice["hostedVisits"])}
    assert seen.isdisjoint(v["id"] for v in nodes(rest))

    assert (few, many) == (PEOPLE_STATEMENTS, PEOPLE_STATEMENTS), f"5 people: {few}, 50 people: {many}"

    # The audit log's actors: one loader read however many different people acted.
    few, small = await measured.cost(AUDIT, {"first": 5})
    many, large = await measured.cost(AUDIT, {"first": 50})
    assert len({e["actor"]["id"] for e in nodes(large["auditLog"]) if e["actor"]}) >= 3
    assert (few, many) == (AUDIT_STATEMENTS, AUDIT_STATEMENTS), f"5 entries: {few}, 50 entries: {many}"


async def test_the_site_lists_cost_the_same_however_large_the_site(measured: Measured) -> None:
    admin = measured.admin
    before, small = await measured.cost(SITE)

    lobby = (await ids_by_name(admin, "zones"))["Lobby"]
    gates = []
    for i in range(20):
        zone = (await admin.ok(CREATE_ZONE, {"input": {"name": f"Lab {i}", "parentId": lobby}}))["createZone"]
        assert zone["errors"] == [], zone
        gate = {"name": f"Lab {i} door", "zoneId": zone["zone"]["id"], "direction": "IN"}
        made = (await admin.ok(CREATE_GATE, {"input": gate}))["createGate"]
        assert made["errors"] == [], made
        gates.append(made["gate"]["id"])
    for i in range(5):
        device = {"name": f"Lab scanner {i}", "kind": "QR_SCANNER", "gateIds": gates[4 * i : 4 * i + 4]}
        assert (await admin.ok(REGISTER, {"input": device}))["registerDevice"]["errors"] == []

    after, large = await measured.cost(SITE)
    assert (len(small["zones"]), len(large["zones"])) == (5, 25)
    assert (len(small["gates"]), len(large["gates"])) == (6, 26)
    assert (len(small["devices"]), len(large["devices"])) == (1, 6)
    lab = next(g for g in large["gates"] if g["name"] == "Lab 3 door")
    assert (lab["zone"]["name"], lab["zone"]["parent"]) == ("Lab 3", {"id": lobby})
    assert [len(d["gates"]) for d in large["devices"]] == [6, 4, 4, 4, 4, 4]
    assert not any(d["online"] for d in large["devices"])
    assert (before, after) == (SITE_STATEMENTS, SITE_STATEMENTS), f"small site: {before}, large site: {after}"


async def test_grant_lists_cost_the_same_however_many_grants(measured: Measured) -> None:
    admin = measured.admin
    people = {
        p["displayName"]: p["id"]
        for p in nodes((await admin.ok("{ people(first: 100) { edges { node { id displayName } } } }"))["people"])
    }
    alice = people["Alice Li"]

    def age_every_grant() -> None:
        # Every grant older than the review period and than the unused window.
        with measured.db() as db:
            rows = db.execute("SELECT id, created_at FROM access_grant").fetchall()
            for gid, created in rows:
                old = (datetime.fromisoformat(created) - timedelta(days=100)).isoformat(sep=" ")
                db.execute("UPDATE access_grant SET created_at = ?, review_due_at = ? WHERE id = ?", (old, old, gid))
            db.commit()

    age_every_grant()
    before, small = await measured.cost(GRANTS, {"personId": alice})

    lobby = (await ids_by_name(admin, "zones"))["Lobby"]
    for i in range(20):
        zone = (await admin.ok(CREATE_ZONE, {"input": {"name": f"Store {i}", "parentId": lobby}}))["createZone"]
        grant = {"zoneId": zone["zone"]["id"], "personId": alice if i % 2 else people["Bob Wang"]}
        assert (await admin.ok(GRANT, {"input": grant}))["grantAccess"]["errors"] == []
    age_every_grant()

    after, large = await measured.cost(GRANTS, {"personId": alice})
    assert (len(small["grants"]), len(large["grants"])) == (1, 11)  # Engineering's grant, and her own ten
    assert {g["person"]["id"] for g in large["grants"] if g["person"]} == {alice}
    assert (len(nodes(small["grantsDueForReview"])), len(nodes(large["grantsDueForReview"]))) == (5, 25)
    assert (len(nodes(small["unusedGrants"])), len(nodes(large["unusedGrants"]))) == (5, 25)
    assert (before, after) == (GRANTS_STATEMENTS, GRANTS_STATEMENTS), f"5 grants: {before}, 25 grants: {after}"
