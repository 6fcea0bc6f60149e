"""What a list of visits or items costs in SQL statements, pinned on a real server.

Every relation of a listed type is read through a per-request DataLoader, so a list costs
the same few statements whatever its length. Each test reads a list at about 5 rows, grows
the data tenfold with rows of the same mix (so every relation is met at both sizes), reads
it again, and pins the count: equal at both sizes, and the number itself, so a new per-row
query, or a new query per list, shows here first.

The server's housekeeping loops run once at start (GATEHOUSE_UPKEEP_SECONDS is long), and the
statements of its background rounds (the command retry tick, the fleet check) are left out
(tests/query_count.py BACKGROUND), so the statements counted while a list is read are that
request's.

`host { pass }` is batched by the people domain's loader (Loaders.active_pass): without it
a list of visits costs a statement per host.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness import GraphQLClient, ServerProcess, Site
from tests.query_count import Statements, background, statements

VISIT_FIELDS = "id host { displayName department { name } pass { status } } zones { name }"
VISITS = f"""
query($first: Int!) {{
  visits(first: $first) {{
    edges {{ cursor node {{ {VISIT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""
EXPECTED = f"query($day: Date!) {{ expectedVisitors(day: $day) {{ {VISIT_FIELDS} }} }}"
HOSTED = f"""
query($first: Int!) {{
  me {{ hostedVisits(first: $first) {{ edges {{ node {{ {VISIT_FIELDS} }} }} pageInfo {{ hasNextPage }} }} }}
}}"""
INVITE = """
mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) { visit { id } errors { code message } } }"""

ITEMS = """
query { items(first: 100) {
  edges { node { id name inStock department { name } } } pageInfo { hasNextPage }
} }"""
ASSETS = """
query { assets(first: 100) {
  edges { node { id labelCode item { name } location { name } holder { displayName department { name } }
                 ownerDepartment { name } } }
  pageInfo { hasNextPage }
} }"""
REQUESTS = """
query { itemRequests(first: 100) {
  edges { node { id kind requester { displayName department { name } } item { name inStock } department { name } } }
  pageInfo { hasNextPage }
} }"""
MOVEMENTS = """
query { itemMovements(first: 100) {
  edges { node { id kind item { name } asset { labelCode } location { name } person { displayName }
                 department { name } request { kind } performedBy { displayName } } }
  pageInfo { hasNextPage }
} }"""

# Hosts across four departments, each with zones they may name for a visitor.
HOST_ZONES = {
    "admin": ["Lobby", "Management area"],
    "alice": ["Engineering office"],
    "carol": ["Engineering office", "Management area"],
    "bob": ["Finance office"],
    "dave": ["Maintenance area"],
}


# The fleet's retry poll runs every second on its own, whatever the requests do.


@dataclass
class Counted:
    """A demo site on a server that logs its SQL, and signed-in clients."""

    server: ServerProcess
    log: Path
    clients: dict[str, GraphQLClient] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)

    async def cost(self, who: str, query: str, variables: dict[str, Any] | None = None) -> tuple[Any, Statements]:
        """The answer, and the SQL statements the server sent for it."""
        with statements(self.log) as sent:
            data = await self.clients[who].ok(query, variables)
        sent.lines = [line for line in sent.lines if not background(line)]
        return data, sent

    async def ok(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.clients[who].ok(query, variables)

    async def payload(self, who: str, query: str, variables: dict[str, Any], op: str) -> dict[str, Any]:
        answer: dict[str, Any] = (await self.ok(who, query, variables))[op]
        assert answer["errors"] == [], answer
        return answer


@pytest.fixture
async def counted(tmp_path: Path, sqlite_site: Site) -> AsyncIterator[Counted]:
    site, demo = sqlite_site, sqlite_site.demo
    assert demo is not None
    log = tmp_path / "sql.log"
    server = site.start_server(GATEHOUSE_SQL_LOG=str(log), GATEHOUSE_UPKEEP_SECONDS="86400")
    try:
        users = {*HOST_ZONES, "security", "wendy", "paul"}  # signed in on the session's template
        site_view = Counted(server, log, {u: GraphQLClient(server, demo=demo, as_=u) for u in sorted(users)})
        zones = await site_view.ok("admin", "{ zones { id name } }")
        site_view.zones = {z["name"]: z["id"] for z in zones["zones"]}
        me = await site_view.ok("alice", "{ me { department { id } } }")
        site_view.departments["Engineering"] = me["me"]["department"]["id"]
        yield site_view
    finally:
        site.stop()


def counts(costs: dict[str, Statements]) -> dict[str, int]:
    return {name: len(sent) for name, sent in costs.items()}


def shown(*runs: dict[str, Statements]) -> str:
    """The statements of each read, for a failure message."""
    return "\n\n".join(f"{name} ({len(sent)}):\n{sent}" for run in runs for name, sent in run.items())


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    assert connection["pageInfo"]["hasNextPage"] is False, connection["pageInfo"]
    return [edge["node"] for edge in connection["edges"]]


# --------------------------------------------------------------------------- visits


async def invite(site: Counted, host: str, n: int, start: datetime) -> None:
    variables = {
        "input": {
            "visitorName": f"Visitor {n}",
            "phone": f"+86139{n:08d}",
            "purpose": "a meeting",
            "expectedStart": start.isoformat(),
            "expectedEnd": (start + timedelta(hours=2)).isoformat(),
            "zoneIds": [site.zones[z] for z in HOST_ZONES[host]],
        }
    }
    await site.payload(host, INVITE, variables, "inviteVisitor")


async def test_a_list_of_visits_costs_the_same_few_statements_at_any_length(counted: Counted) -> None:
    site = counted
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    day = start.date().isoformat()  # the site's time zone is UTC
    hosts = itertools.cycle(HOST_ZONES)
    numbers = itertools.count()

    async def read_all(size: int) -> dict[str, Statements]:
        """Each listing, read whole; what each cost."""
        visits, by_visits = await site.cost("security", VISITS, {"first": 100})
        expected, by_expected = await site.cost("security", EXPECTED, {"day": day})
        hosted, by_hosted = await site.cost("alice", HOSTED, {"first": 100})
        listed = nodes(visits["visits"])
        assert len(listed) == len(expected["expectedVisitors"]) == size
        assert {v["host"]["displayName"] for v in listed} >= {"Ada Admin", "Alice Li", "Bob Wang"}
        assert all(v["zones"] and v["host"]["department"]["name"] for v in listed)
        page = visits["visits"]["pageInfo"]
        assert (page["hasPreviousPage"], page["startCursor"], page["endCursor"]) == (
            False,
            visits["visits"]["edges"][0]["cursor"],
            visits["visits"]["edges"][-1]["cursor"],
        )
        assert len(nodes(hosted["me"]["hostedVisits"])) == sum(
            1 for v in listed if v["host"]["displayName"] == "Alice Li"
        )
        return {"visits": by_visits, "expectedVisitors": by_expected, "me.hostedVisits": by_hosted}

    for _ in range(5):
        await invite(site, next(hosts), next(numbers), start)
    few = await read_all(5)
    for _ in range(45):
        await invite(site, next(hosts), next(numbers), start)
    many = await read_all(50)

    assert counts(few) == counts(many), shown(few, many)
    # The session, the page, then one statement each for the hosts, their departments, their passes
    # and the visits' zones. expectedVisitors first expires visits past their end (one more read);
    # me.hostedVisits reads the caller, then the page's ids and its rows.
    assert counts(many) == {"visits": 6, "expectedVisitors": 7, "me.hostedVisits": 8}, shown(many)


# --------------------------------------------------------------------------- items

PURCHASE = """
mutation($name: String!, $quantity: Int!) {
  requestPurchase(name: $name, quantity: $quantity, budget: 100) { request { id } errors { code message } }
}"""
APPROVE = "mutation($id: ID!) { approveItemRequest(id: $id) { request { id status } errors { code message } } }"
RECEIVE = """
mutation($id: ID!, $receipt: ReceiptInput!) {
  receivePurchase(requestId: $id, receipt: $receipt) { request { id item { id } } labelCodes errors { code message } }
}"""
REQUISITION = """
mutation($item: ID!, $quantity: Int!) {
  requestRequisition(itemId: $item, quantity: $quantity, purpose: "work") { request { id } errors { code message } }
}"""
ISSUE = """
mutation($id: ID!, $location: ID!, $codes: [String!]) {
  issueRequisition(requestId: $id, locationId: $location, labelCodes: $codes) {
    request { id status } errors { code message }
  }
}"""
CREATE_ITEM = """
mutation($name: String!, $department: ID) {
  createItem(name: $name, category: OFFICE_SUPPLIES, departmentId: $department) { item { id } errors { code message } }
}"""


async def add_items(site: Counted, rounds: int, location: str, numbers: Iterator[int]) -> None:
    """Per round: a catalogue item; a purchase of two labelled assets, received; one of them
    issued to alice on a requisition her head approved; a requisition of bob's, pending."""
    for _ in range(rounds):
        n = next(numbers)
        await site.payload(
            "wendy", CREATE_ITEM, {"name": f"Item {n:03d}", "department": site.departments["Engineering"]}, "createItem"
        )
        purchase = (await site.payload("alice", PURCHASE, {"name": f"Tool {n:03d}", "quantity": 2}, "requestPurchase"))[
            "request"
        ]["id"]
        await site.payload("carol", APPROVE, {"id": purchase}, "approveItemRequest")
        await site.payload("paul", APPROVE, {"id": purchase}, "approveItemRequest")
        receipt = {
            "quantity": 2,
            "locationId": location,
            "deliveryNote": f"DN-{n}",
            "specOk": True,
            "qualityOk": True,
            "serialized": True,
        }
        received = await site.payload("wendy", RECEIVE, {"id": purchase, "receipt": receipt}, "receivePurchase")
        tool = received["request"]["item"]["id"]
        wanted = await site.payload("alice", REQUISITION, {"item": tool, "quantity": 1}, "requestRequisition")
        await site.payload("carol", APPROVE, {"id": wanted["request"]["id"]}, "approveItemRequest")
        issue = {"id": wanted["request"]["id"], "location": location, "codes": received["labelCodes"][:1]}
        await site.payload("wendy", ISSUE, issue, "issueRequisition")
        await site.payload("bob", REQUISITION, {"item": tool, "quantity": 1}, "requestRequisition")


async def test_lists_of_items_cost_the_same_few_statements_at_any_length(counted: Counted) -> None:
    site = counted
    locations = await site.ok("wendy", "{ stockLocations { edges { node { id } } } }")
    location = locations["stockLocations"]["edges"][0]["node"]["id"]
    numbers = itertools.count()

    async def read_all() -> tuple[dict[str, int], dict[str, Statements]]:
        costs: dict[str, Statements] = {}
        sizes: dict[str, int] = {}
        for name, query in (
            ("items", ITEMS),
            ("assets", ASSETS),
            ("itemRequests", REQUESTS),
            ("itemMovements", MOVEMENTS),
        ):
            data, costs[name] = await site.cost("wendy", query, {})
            sizes[name] = len(nodes(data[name]))
        return sizes, costs

    await add_items(site, 2, location, numbers)
    few_sizes, few = await read_all()
    await add_items(site, 18, location, numbers)
    many_sizes, many = await read_all()

    # Tenfold rows: 3 demo items + 2 per round; 3 demo assets + 2; 3 requests; 4 demo + 3 movements.
    assert few_sizes == {"items": 7, "assets": 7, "itemRequests": 6, "itemMovements": 10}, few_sizes
    assert many_sizes == {"items": 43, "assets": 43, "itemRequests": 60, "itemMovements": 64}, many_sizes
    assert counts(few) == counts(many), shown(few, many)
    # The session and the page, then one statement per relation the lists show: items: in-stock counts of
    # labelled and of counted items, departments; assets: items, locations, holders, departments; requests:
    # requesters, items, departments, labelled items' stock; movements: items, assets, people (who moved it
    # and who recorded it), departments, requests, locations.
    assert counts(many) == {"items": 5, "assets": 6, "itemRequests": 6, "itemMovements": 8}, shown(many)
