"""Stock under concurrency (POLICY 4.3), on PostgreSQL with two server processes.

Two warehouse clerks at two servers issue requisitions for the last units at the same
moment: exactly one gets them, stock never goes negative, and the database itself
refuses a negative quantity. Skips on a laptop without PostgreSQL; fails under CI=true.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from tests import harness
from tests.harness import GraphQLClient, Site

pytestmark = pytest.mark.postgres

REQUEST = "id kind status quantity fulfilledQuantity details"
ERRORS = "errors { code message field }"
REQUISITION = f"""
mutation($itemId: ID!, $quantity: Int!) {{
  requestRequisition(itemId: $itemId, quantity: $quantity, purpose: "race") {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
PURCHASE = f"""
mutation($itemId: ID, $quantity: Int!) {{
  requestPurchase(name: "A4 paper", spec: "80 g/m2", quantity: $quantity, budget: 50, itemId: $itemId) {{
    request {{ {REQUEST} }} {ERRORS}
  }}
}}"""
APPROVE = f"mutation($id: ID!) {{ approveItemRequest(id: $id) {{ request {{ {REQUEST} }} {ERRORS} }} }}"
ISSUE = f"""
mutation($id: ID!, $location: ID!) {{
  issueRequisition(requestId: $id, locationId: $location) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
RECEIVE = f"""
mutation($id: ID!, $location: ID!, $quantity: Int!) {{
  receivePurchase(requestId: $id, receipt: {{quantity: $quantity, locationId: $location, deliveryNote: "DN",
                  specOk: true, qualityOk: true}}) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
ITEMS = "{ items(first: 100) { edges { node { id name inStock } } pageInfo { hasNextPage } } }"
LOCATIONS = "{ stockLocations(first: 100) { edges { node { id name } } pageInfo { hasNextPage } } }"
ISSUES = """
query($itemId: ID!) {
  itemMovements(first: 100, itemId: $itemId, kind: "ISSUE") { edges { node { request { id } quantity } } }
}"""


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole list read as one page (the test's lists are short)."""
    assert connection["pageInfo"]["hasNextPage"] is False, connection["pageInfo"]
    return [edge["node"] for edge in connection["edges"]]


@pytest.fixture
async def race_site(postgres_site: Site) -> Site:
    """The demo site on a fresh PostgreSQL database, served by two processes."""
    await asyncio.to_thread(postgres_site.start_server)
    await asyncio.to_thread(postgres_site.start_server)
    return postgres_site


@dataclass
class Warehouse:
    site: Site
    postgres_url: str
    at: list[dict[str, GraphQLClient]] = field(default_factory=list)  # per server: username → client
    paper: str = ""
    location: str = ""

    async def ok(self, who: str, query: str, variables: dict[str, Any], server: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = await self.at[server][who].ok(query, variables)
        return data

    async def stock(self) -> int:
        items = nodes((await self.ok("alice", ITEMS, {}))["items"])
        level: int = next(i["inStock"] for i in items if i["id"] == self.paper)
        return level

    async def approved_requisition(self, quantity: int) -> str:
        payload = (await self.ok("alice", REQUISITION, {"itemId": self.paper, "quantity": quantity}))[
            "requestRequisition"
        ]
        assert payload["errors"] == [], payload
        rid: str = payload["request"]["id"]
        approved = (await self.ok("carol", APPROVE, {"id": rid}))["approveItemRequest"]
        assert approved["request"]["status"] == "APPROVED", approved
        return rid

    async def issue(self, rid: str, server: int) -> dict[str, Any]:
        payload: dict[str, Any] = (await self.ok("wendy", ISSUE, {"id": rid, "location": self.location}, server))[
            "issueRequisition"
        ]
        return payload

    async def approved_purchase(self, quantity: int) -> str:
        payload = (await self.ok("alice", PURCHASE, {"itemId": self.paper, "quantity": quantity}))["requestPurchase"]
        assert payload["errors"] == [], payload
        rid: str = payload["request"]["id"]
        await self.ok("carol", APPROVE, {"id": rid})
        assert (await self.ok("paul", APPROVE, {"id": rid}))["approveItemRequest"]["request"]["status"] == "APPROVED"
        return rid

    async def receive(self, rid: str, quantity: int, server: int = 0) -> dict[str, Any]:
        variables = {"id": rid, "location": self.location, "quantity": quantity}
        payload: dict[str, Any] = (await self.ok("wendy", RECEIVE, variables, server))["receivePurchase"]
        return payload

    async def at_once(self, lock: str, key: int, *calls: Awaitable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The calls' answers, the calls made to really meet in the database: queued behind the row
        lock both writes need (`SELECT ... FOR UPDATE` on `lock` row `key`), see harness.at_once."""
        return await harness.at_once(self.dsn, f"SELECT 1 FROM {lock} WHERE id = $1 FOR UPDATE", [key], *calls)

    async def stock_row(self) -> int:
        """The id of the paper's one stock level row (the warehouse holds it in one place)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            [row] = await conn.fetch("SELECT id FROM stock_level WHERE item_id = $1", int(self.paper))
        finally:
            await conn.close()
        return int(row["id"])

    @property
    def dsn(self) -> str:
        return self.postgres_url.replace("postgres://", "postgresql://", 1)

    async def db_stock(self) -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            value: int = await conn.fetchval(
                "SELECT sum(quantity) FROM stock_level WHERE item_id = $1", int(self.paper)
            )
        finally:
            await conn.close()
        return value


@pytest.fixture
async def warehouse(race_site: Site) -> Warehouse:
    assert len(race_site.servers) == 2
    wh = Warehouse(race_site, race_site.database_url)
    wh.at = [{n: race_site.client(n, server) for n in ("alice", "carol", "paul", "wendy")} for server in (0, 1)]
    items = {i["name"]: i for i in nodes((await wh.ok("alice", ITEMS, {}))["items"])}
    assert items["A4 paper"]["inStock"] == 40
    wh.paper = items["A4 paper"]["id"]
    wh.location = nodes((await wh.ok("wendy", LOCATIONS, {}))["stockLocations"])[0]["id"]
    # A session made on one server is honoured by the other (they share the database).
    assert (await wh.ok("wendy", "{ me { username } }", {}, 1))["me"]["username"] == "wendy"
    return wh


async def test_two_requisitions_racing_for_the_last_units_never_drive_stock_negative(warehouse: Warehouse) -> None:
    wh = warehouse
    # Down to three reams.
    first = await wh.approved_requisition(37)
    assert (await wh.issue(first, 0))["request"]["status"] == "FULFILLED"
    assert await wh.stock() == 3

    for round_no in range(4):
        if round_no:
            # Two more reams arrive on top of the last one: three again.
            purchase = await wh.approved_purchase(2)
            received = await wh.receive(purchase, 2)
            assert received["errors"] == [] and received["request"]["status"] == "FULFILLED", received
        assert await wh.stock() == 3, round_no
        a, b = await wh.approved_requisition(2), await wh.approved_requisition(2)
        # Each server issues one of them, at the same moment: both take the last units at once.
        results = await wh.at_once("stock_level", await wh.stock_row(), wh.issue(a, 0), wh.issue(b, 1))
        outcomes = sorted(
            ("FULFILLED" if r["errors"] == [] else r["errors"][0]["code"], r["request"] is None) for r in results
        )
        assert outcomes == [("FULFILLED", False), ("NOT_ALLOWED", True)], (round_no, results)
        refused = next(r for r in results if r["errors"])
        assert refused["errors"][0]["field"] == "quantity"
        assert await wh.stock() == 1, round_no
        assert await wh.db_stock() == 1, round_no
        # The loser is still approved, waiting for stock; the winner has one ISSUE movement.
        loser = a if results[0]["errors"] else b
        winner = b if loser == a else a
        requisitions = f"""{{ itemRequests(first: 100, kind: REQUISITION) {{
            edges {{ node {{ {REQUEST} }} }} pageInfo {{ hasNextPage }} }} }}"""
        statuses = {r["id"]: r["status"] for r in nodes((await wh.ok("wendy", requisitions, {}))["itemRequests"])}
        assert (statuses[winner], statuses[loser]) == ("FULFILLED", "APPROVED"), round_no
        issues = (await wh.ok("wendy", ISSUES, {"itemId": wh.paper}))["itemMovements"]["edges"]
        issued_for = [(e["node"]["request"] or {}).get("id") for e in issues]
        assert sorted(r for r in issued_for if r in (a, b)) == [winner]
        # The losing request, retried with one ream left, is still refused and takes nothing.
        retried = await wh.issue(loser, round_no % 2)
        assert [(e["code"], e["field"]) for e in retried["errors"]] == [("NOT_ALLOWED", "quantity")]
        assert await wh.db_stock() == 1, round_no


async def test_the_database_refuses_a_negative_stock_level(warehouse: Warehouse) -> None:
    conn = await asyncpg.connect(warehouse.postgres_url.replace("postgres://", "postgresql://", 1))
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="stock_never_negative"):
            await conn.execute("UPDATE stock_level SET quantity = -1 WHERE item_id = $1", int(warehouse.paper))
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "UPDATE stock_level SET quantity = quantity - 41 WHERE item_id = $1", int(warehouse.paper)
            )
        assert await conn.fetchval("SELECT quantity FROM stock_level WHERE item_id = $1", int(warehouse.paper)) == 40
    finally:
        await conn.close()
    assert await warehouse.stock() == 40


async def test_one_requisition_issued_twice_at_once_is_issued_once(warehouse: Warehouse) -> None:
    """Two clerks scan the same approved requisition at two servers at once: it is issued once."""
    wh = warehouse
    rounds = []
    for _ in range(6):
        before = await wh.stock()
        rid = await wh.approved_requisition(2)
        results = await wh.at_once("item_request", int(rid), wh.issue(rid, 0), wh.issue(rid, 1))
        issued = [e for e in (await wh.ok("wendy", ISSUES, {"itemId": wh.paper}))["itemMovements"]["edges"]]
        rounds.append(
            (
                sorted("FULFILLED" if r["errors"] == [] else r["errors"][0]["code"] for r in results)[0],
                before - await wh.stock(),
                sum(1 for e in issued if (e["node"]["request"] or {}).get("id") == rid),
            )
        )
    # Per round: the other call refused (NOT_ALLOWED or CONFLICT), two reams out, one ISSUE movement.
    assert all(taken == 2 and moves == 1 and first != "FULFILLED" for first, taken, moves in rounds), rounds


async def test_receipts_at_once_all_reach_the_stock(warehouse: Warehouse) -> None:
    """Deliveries of the same item received at two servers at once: every ream counts."""
    wh = warehouse
    rounds = []
    for _ in range(8):
        before = await wh.stock()
        purchases = [await wh.approved_purchase(n) for n in (1, 2, 3, 4)]
        results = await asyncio.gather(*(wh.receive(p, n, n % 2) for p, n in zip(purchases, (1, 2, 3, 4), strict=True)))
        assert [(r["errors"], r["request"]["status"]) for r in results] == [([], "FULFILLED")] * 4, results
        rounds.append(await wh.stock() - before)
    assert rounds == [10] * len(rounds)
