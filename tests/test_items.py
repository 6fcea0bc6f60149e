"""Items and assets (POLICY 4, 2.4-2.5), end to end on a real server.

Every workflow runs with the roles the demo site gives: alice (Engineering) and bob
(Finance) request, carol and fiona head their departments, paul buys (PROCUREMENT),
wendy keeps the warehouse, amy appraises (ASSET_MANAGER), eve signs for the company
(EXECUTIVE), the guard decides at the gate. Labels are printed by the server, read back
with a real QR decoder, and scanned at the gate by a device on the real WebSocket
protocol; the approval queue is watched with a real graphql-transport-ws client.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from tests import harness
from tests.harness import Gate, GraphQLClient, ServerProcess, Site

LABEL = re.compile(r"^GHI1:A[A-Z2-7]{8}:[A-Z2-7]{8}$")

REQUEST = "id kind status requester { id } item { id } quantity fulfilledQuantity details steps history"
ERRORS = "errors { code message field }"
ASSET = "id item { id } status holder { id } dueBack labelCode"
CHECK = "id person { id } gate { id } direction declared scanned problems status"

LOCATIONS = "{ stockLocations(first: 100) { edges { node { id name } } pageInfo { hasNextPage } } }"


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole list read as one page (the test's lists are short)."""
    assert connection["pageInfo"]["hasNextPage"] is False, connection["pageInfo"]
    return [edge["node"] for edge in connection["edges"]]


def ref(node: dict[str, Any] | None) -> str | None:
    """The id of a related object (null stays null)."""
    return node["id"] if node is not None else None


PURCHASE = f"""
mutation($name: String!, $spec: String!, $quantity: Int!, $budget: Float!, $neededBy: DateTime, $itemId: ID) {{
  requestPurchase(name: $name, spec: $spec, quantity: $quantity, budget: $budget, neededBy: $neededBy,
                  itemId: $itemId) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
REQUISITION = f"""
mutation($itemId: ID!, $quantity: Int!, $purpose: String!) {{
  requestRequisition(itemId: $itemId, quantity: $quantity, purpose: $purpose) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
BORROW = f"""
mutation($itemId: ID!, $quantity: Int!, $owner: ID!, $dueBack: DateTime!, $purpose: String!) {{
  requestBorrow(itemId: $itemId, quantity: $quantity, ownerDepartmentId: $owner, dueBack: $dueBack,
                purpose: $purpose) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
SCRAP = f"""
mutation($code: String!, $reason: String!) {{
  requestScrap(labelCode: $code, reason: $reason) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
APPROVE = f"""
mutation($id: ID!, $comment: String) {{
  approveItemRequest(id: $id, comment: $comment) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
REJECT = f"""
mutation($id: ID!, $comment: String!) {{
  rejectItemRequest(id: $id, comment: $comment) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
RESUBMIT = f"""
mutation($id: ID!, $quantity: Int) {{
  resubmitItemRequest(id: $id, quantity: $quantity) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
RECEIVE = f"""
mutation($id: ID!, $receipt: ReceiptInput!) {{
  receivePurchase(requestId: $id, receipt: $receipt) {{ request {{ {REQUEST} }} labelCodes {ERRORS} }}
}}"""
ISSUE = f"""
mutation($id: ID!, $location: ID!, $codes: [String!]) {{
  issueRequisition(requestId: $id, locationId: $location, labelCodes: $codes) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
LEND = f"""
mutation($id: ID!, $codes: [String!]!) {{
  lendItems(requestId: $id, labelCodes: $codes) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
RETURN = f"""
mutation($code: String!, $condition: String!, $location: ID!, $notes: String) {{
  returnLentItem(labelCode: $code, condition: $condition, locationId: $location, notes: $notes) {{
    asset {{ {ASSET} }} {ERRORS}
  }}
}}"""
DISPOSE = f"""
mutation($id: ID!, $code: String!, $method: String!, $notes: String) {{
  disposeAsset(requestId: $id, labelCode: $code, method: $method, notes: $notes) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
DECLARE = f"""
mutation($gate: ID!, $direction: String!, $items: [DeclaredItemInput!]!) {{
  declareItems(gateId: $gate, direction: $direction, items: $items) {{ check {{ {CHECK} }} {ERRORS} }}
}}"""
COMPLETE = f"mutation($id: ID!) {{ completeItemCheck(id: $id) {{ check {{ {CHECK} }} {ERRORS} }} }}"
DECIDE = f"""
mutation($id: ID!, $allow: Boolean!, $note: String) {{
  decideItemCheck(id: $id, allow: $allow, note: $note) {{ check {{ {CHECK} }} {ERRORS} }}
}}"""
ITEMS = """
{ items(first: 100) { edges { node { id name spec category serialized unit inStock } } pageInfo { hasNextPage } } }"""
ASSETS = f"""
query($itemId: ID, $status: AssetStatus, $holder: ID) {{
  assets(first: 100, itemId: $itemId, status: $status, holderId: $holder) {{
    edges {{ node {{ {ASSET} }} }} pageInfo {{ hasNextPage }}
  }}
}}"""
MOVEMENTS = """
query($first: Int!, $assetId: ID, $itemId: ID, $personId: ID, $kind: String, $category: ItemCategory) {
  itemMovements(first: $first, assetId: $assetId, itemId: $itemId, personId: $personId, kind: $kind,
                category: $category) {
    edges { node { id kind item { id } asset { id } quantity person { id } gate { id } request { id } notes } }
    pageInfo { hasNextPage }
  }
}"""
QUEUE = f"{{ approvalQueue(first: 100) {{ edges {{ node {{ {REQUEST} }} }} pageInfo {{ hasNextPage }} }} }}"
OVERDUE = f"{{ overdueLoans(first: 100) {{ edges {{ node {{ {ASSET} }} }} pageInfo {{ hasNextPage }} }} }}"
ALERTS = "{ deviceAlerts(first: 20) { id kind message gateId } }"
QUEUE_UPDATES = "subscription { approvalQueueUpdates { id kind status requester { id } steps } }"


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def user_errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


def forge(code: str) -> str:
    """The same label with one character of its MAC changed."""
    body, mac = code.rsplit(":", 1)
    swapped = "B" if mac[3] == "A" else "A"
    return f"{body}:{mac[:3]}{swapped}{mac[4:]}"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def actions(request: dict[str, Any]) -> list[str]:
    return [h["action"] for h in request["history"]]


# --------------------------------------------------------------------------- the demo shop


class Shop(harness.World):
    """The demo site's warehouse: its items, location and departments, and the workflow steps."""

    paper = laptop = location = eng = fin = ""

    async def user(self, name: str) -> GraphQLClient:
        """The server as a demo user (signed in once, on the template)."""
        return self.client(name)

    async def pid(self, name: str) -> str:
        return self.ids.people[name]

    # --- workflow steps, each asserting that it worked ------------------------------------------

    async def submit(self, who: str, query: str, variables: dict[str, Any], op: str) -> dict[str, Any]:
        payload = (await (await self.user(who)).ok(query, variables))[op]
        assert payload["errors"] == [], payload
        assert payload["request"]["status"] == "PENDING", payload
        request: dict[str, Any] = payload["request"]
        return request

    async def requisition(self, who: str, item: str, quantity: int, purpose: str = "printing") -> dict[str, Any]:
        variables = {"itemId": item, "quantity": quantity, "purpose": purpose}
        return await self.submit(who, REQUISITION, variables, "requestRequisition")

    async def borrow(
        self, who: str = "bob", due: datetime | None = None, owner: str | None = None, purpose: str = "audit"
    ) -> dict[str, Any]:
        variables = {
            "itemId": self.laptop,
            "quantity": 1,
            "owner": owner or self.eng,
            "dueBack": iso(due or datetime.now(UTC) + timedelta(days=3)),
            "purpose": purpose,
        }
        return await self.submit(who, BORROW, variables, "requestBorrow")

    async def decide(self, who: str, request_id: str, comment: str | None = None) -> dict[str, Any]:
        payload = (await (await self.user(who)).ok(APPROVE, {"id": request_id, "comment": comment}))[
            "approveItemRequest"
        ]
        assert payload["errors"] == [], payload
        request: dict[str, Any] = payload["request"]
        return request

    async def approve_raw(self, who: str, request_id: str, comment: str | None = None) -> dict[str, Any]:
        return await (await self.user(who))(APPROVE, {"id": request_id, "comment": comment})

    async def approved_borrow(self, who: str = "bob", due: datetime | None = None) -> dict[str, Any]:
        request = await self.borrow(who, due)
        await self.decide("fiona", request["id"])
        approved = await self.decide("carol", request["id"])
        assert approved["status"] == "APPROVED", approved
        return approved

    async def in_stock_laptops(self) -> list[dict[str, Any]]:
        wendy = await self.user("wendy")
        return nodes((await wendy.ok(ASSETS, {"itemId": self.laptop, "status": "IN_STOCK"}))["assets"])

    async def asset(self, asset_id: str) -> dict[str, Any]:
        wendy = await self.user("wendy")
        found = [a for a in nodes((await wendy.ok(ASSETS))["assets"]) if a["id"] == asset_id]
        assert len(found) == 1, found
        return found[0]

    async def lend(self, request_id: str, codes: list[str]) -> dict[str, Any]:
        payload = (await (await self.user("wendy")).ok(LEND, {"id": request_id, "codes": codes}))["lendItems"]
        assert payload["errors"] == [], payload
        request: dict[str, Any] = payload["request"]
        return request

    async def lent_laptop(self, who: str = "bob", due: datetime | None = None) -> dict[str, Any]:
        """An approved borrowing, lent: the asset now held by `who`."""
        request = await self.approved_borrow(who, due)
        laptop = (await self.in_stock_laptops())[0]
        await self.lend(request["id"], [laptop["labelCode"]])
        return {**(await self.asset(laptop["id"])), "requestId": request["id"]}

    async def stock(self, item: str) -> int:
        alice = await self.user("alice")
        found = [i for i in nodes((await alice.ok(ITEMS))["items"]) if i["id"] == item]
        assert len(found) == 1
        in_stock: int = found[0]["inStock"]
        return in_stock

    async def request(self, request_id: str) -> dict[str, Any]:
        wendy = await self.user("wendy")
        query = f"{{ itemRequests(first: 100) {{ edges {{ node {{ {REQUEST} }} }} pageInfo {{ hasNextPage }} }} }}"
        rows = nodes((await wendy.ok(query))["itemRequests"])
        found = [r for r in rows if r["id"] == request_id]
        assert len(found) == 1, rows
        row: dict[str, Any] = found[0]
        return row

    async def movements(self, **filters: Any) -> list[dict[str, Any]]:
        """Movements matching `filters`, oldest first."""
        audrey = await self.user("audrey")
        data = (await audrey.ok(MOVEMENTS, {"first": 100, **filters}))["itemMovements"]
        assert data["pageInfo"]["hasNextPage"] is False
        return [e["node"] for e in reversed(data["edges"])]


@pytest.fixture
async def shop(server: ServerProcess, sqlite_site: Site) -> Shop:
    shop = Shop(sqlite_site, server)
    wendy = await shop.user("wendy")
    items = {i["name"]: i for i in nodes((await wendy.ok(ITEMS))["items"])}
    assert {n: (i["serialized"], i["inStock"]) for n, i in items.items()} == {
        "A4 paper": (False, 40),
        "Laptop": (True, 3),
        "笔记本电脑": (True, 0),
    }
    shop.paper, shop.laptop = items["A4 paper"]["id"], items["Laptop"]["id"]
    locations = nodes((await wendy.ok(LOCATIONS))["stockLocations"])
    assert [loc["name"] for loc in locations] == ["Main warehouse"]
    shop.location = locations[0]["id"]
    carol = await (await shop.user("carol")).ok("{ me { department { id name } } }")
    fiona = await (await shop.user("fiona")).ok("{ me { department { id name } } }")
    assert (carol["me"]["department"]["name"], fiona["me"]["department"]["name"]) == ("Engineering", "Finance")
    shop.eng, shop.fin = carol["me"]["department"]["id"], fiona["me"]["department"]["id"]
    return shop


@contextlib.asynccontextmanager
async def gate_device(shop: Shop) -> AsyncIterator[Gate]:
    gate = await Gate(shop.server, shop.demo.device_id, shop.demo.device_secret).connect()
    try:
        yield gate
    finally:
        await gate.close()


async def scan_item(gate: Gate, gate_id: str, code: str, ref: str) -> dict[str, Any]:
    await gate.send({"type": "item", "ref": ref, "gateId": gate_id, "code": code})
    while True:
        reply = await gate.recv_type("item_result")
        if reply.get("ref") == ref:
            return reply


async def next_command(gate: Gate, timeout: float = 10) -> dict[str, Any]:
    """The next command frame (acknowledged, so the server does not send it again)."""
    for frame in list(gate.pending):
        if frame.get("type") == "command":
            gate.pending.remove(frame)
            break
    else:
        frame = await gate.recv_type("command", timeout)
    await gate.send({"type": "ack", "id": frame["id"]})
    return frame


async def no_command(gate: Gate, seconds: float = 1.5) -> None:
    assert not [f for f in gate.pending if f.get("type") == "command"], gate.pending
    with pytest.raises(TimeoutError):
        frame = await gate.recv_type("command", seconds)
        raise AssertionError(f"the gate got a command it should not have: {frame}")


async def declare(shop: Shop, who: str, gate_id: str, code: str, direction: str = "OUT") -> dict[str, Any]:
    items = [{"description": "laptop", "labelCode": code}]
    payload = (await (await shop.user(who)).ok(DECLARE, {"gate": gate_id, "direction": direction, "items": items}))[
        "declareItems"
    ]
    assert payload["errors"] == [], payload
    check: dict[str, Any] = payload["check"]
    assert check["status"] == "OPEN"
    return check


# --------------------------------------------------------------------------- purchasing (4.2)


async def test_purchase_goes_head_then_procurement_and_is_received_in_parts(shop: Shop) -> None:
    alice, wendy = await shop.user("alice"), await shop.user("wendy")
    needed_by = (datetime.now(UTC) + timedelta(days=14)).replace(microsecond=0)
    variables = {
        "name": "Oscilloscope",
        "spec": "100 MHz, 2 channels",
        "quantity": 4,
        "budget": 12000.5,
        "neededBy": iso(needed_by),
    }
    for bad, where in (({"quantity": 0}, "quantity"), ({"budget": -1.0}, "budget"), ({"name": " "}, "name")):
        refused = (await alice.ok(PURCHASE, {**variables, **bad}))["requestPurchase"]
        assert (user_errors(refused), refused["request"]) == ([("INVALID", where)], None), bad
    request = await shop.submit("alice", PURCHASE, variables, "requestPurchase")
    rid = request["id"]
    assert (request["kind"], ref(request["requester"]), request["quantity"], request["fulfilledQuantity"]) == (
        "PURCHASE",
        await shop.pid("alice"),
        4,
        0,
    )
    assert request["item"] is None
    assert request["details"] == {
        "name": "Oscilloscope",
        "spec": "100 MHz, 2 channels",
        "budget": 12000.5,
        "neededBy": needed_by.isoformat(),
        "receipts": [],
    }
    assert request["steps"] == [
        {"who": "head", "departmentId": int(shop.eng), "status": "PENDING"},
        {"who": "role", "role": "PROCUREMENT", "status": "PENDING"},
    ]
    receipt = {"quantity": 2, "locationId": shop.location, "deliveryNote": "DN-1", "specOk": True, "qualityOk": True}

    # Nothing is received before every step has approved.
    early = (await wendy.ok(RECEIVE, {"id": rid, "receipt": receipt}))["receivePurchase"]
    assert (user_errors(early), early["request"], early["labelCodes"]) == ([("NOT_ALLOWED", "requestId")], None, [])
    # Procurement cannot skip the head; the requester and another department's people decide nothing.
    for who in ("paul", "alice", "bob", "fiona", "wendy"):
        assert error_codes(await shop.approve_raw(who, rid)) == ["FORBIDDEN"], who

    after_head = await shop.decide("carol", rid, "needed for the lab")
    assert after_head["status"] == "PENDING"
    assert after_head["steps"][0]["status"] == "APPROVED"
    assert (after_head["steps"][0]["by"], after_head["steps"][0]["comment"]) == (
        int(await shop.pid("carol")),
        "needed for the lab",
    )
    assert after_head["steps"][1]["status"] == "PENDING"
    # The head's step is done: carol has no say over procurement's.
    assert error_codes(await shop.approve_raw("carol", rid)) == ["FORBIDDEN"]
    still = (await wendy.ok(RECEIVE, {"id": rid, "receipt": receipt}))["receivePurchase"]
    assert user_errors(still) == [("NOT_ALLOWED", "requestId")]

    approved = await shop.decide("paul", rid)
    assert approved["status"] == "APPROVED"
    assert [s["status"] for s in approved["steps"]] == ["APPROVED", "APPROVED"]
    assert approved["steps"][1]["by"] == int(await shop.pid("paul"))

    nothing = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, "quantity": 0}}))["receivePurchase"]
    assert user_errors(nothing) == [("INVALID", "quantity")]

    # Two arrive (checked against the note): labelled as assets; the request stays open.
    first = (
        await wendy.ok(
            RECEIVE, {"id": rid, "receipt": {**receipt, "serialized": True, "category": "MAINTENANCE_PARTS"}}
        )
    )["receivePurchase"]
    assert first["errors"] == []
    assert (first["request"]["status"], first["request"]["fulfilledQuantity"]) == ("APPROVED", 2)
    codes = first["labelCodes"]
    assert len(codes) == 2 and len(set(codes)) == 2 and all(LABEL.match(c) for c in codes), codes
    item_id = ref(first["request"]["item"])
    assert item_id is not None
    item = next(i for i in nodes((await alice.ok(ITEMS))["items"]) if i["id"] == item_id)
    assert item == {
        "id": item_id,
        "name": "Oscilloscope",
        "spec": "100 MHz, 2 channels",
        "category": "MAINTENANCE_PARTS",
        "serialized": True,
        "unit": "pcs",
        "inStock": 2,
    }
    assets = nodes((await wendy.ok(ASSETS, {"itemId": item_id}))["assets"])
    assert sorted(a["labelCode"] for a in assets) == sorted(codes)
    assert {a["status"] for a in assets} == {"IN_STOCK"}
    receipt_one = first["request"]["details"]["receipts"]
    assert [(r["deliveryNote"], r["delivered"], r["accepted"], r["problems"]) for r in receipt_one] == [
        ("DN-1", 2, 2, [])
    ]

    second = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, "deliveryNote": "DN-2"}}))["receivePurchase"]
    assert second["errors"] == []
    assert (second["request"]["status"], second["request"]["fulfilledQuantity"]) == ("FULFILLED", 4)
    assert len(second["labelCodes"]) == 2 and not set(second["labelCodes"]) & set(codes)
    assert await shop.stock(item_id) == 4
    assert actions(second["request"]) == ["submitted", "approved", "approved", "received", "received"]

    # A fulfilled request takes no more goods.
    late = (await wendy.ok(RECEIVE, {"id": rid, "receipt": receipt}))["receivePurchase"]
    assert user_errors(late) == [("NOT_ALLOWED", "requestId")]
    assert await shop.stock(item_id) == 4
    moves = await shop.movements(itemId=item_id)
    assert [(m["kind"], ref(m["request"]), m["notes"]) for m in moves] == [("RECEIVE", rid, "DN-1")] * 2 + [
        ("RECEIVE", rid, "DN-2")
    ] * 2
    # Only the warehouse receives.
    body = await alice(RECEIVE, {"id": rid, "receipt": receipt})
    assert error_codes(body) == ["FORBIDDEN"]


async def test_a_receipt_that_fails_inspection_is_recorded_and_stocks_nothing(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    variables = {"name": "A4 paper", "spec": "80 g/m2", "quantity": 10, "budget": 300.0, "itemId": shop.paper}
    rid = (await shop.submit("alice", PURCHASE, variables, "requestPurchase"))["id"]
    await shop.decide("carol", rid)
    assert (await shop.decide("paul", rid))["status"] == "APPROVED"
    receipt = {"quantity": 10, "locationId": shop.location, "deliveryNote": "DN-7", "specOk": True}

    bad = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, "qualityOk": False, "notes": "wet"}}))[
        "receivePurchase"
    ]
    assert bad["errors"] == [] and bad["labelCodes"] == []
    assert (bad["request"]["status"], bad["request"]["fulfilledQuantity"]) == ("APPROVED", 0)
    [entry] = bad["request"]["details"]["receipts"]
    assert (entry["deliveryNote"], entry["delivered"], entry["accepted"], entry["problems"], entry["notes"]) == (
        "DN-7",
        10,
        0,
        ["quality not acceptable"],
        "wet",
    )
    assert bad["request"]["history"][-1]["action"] == "received with discrepancies"
    assert bad["request"]["history"][-1]["comment"] == "quality not acceptable"
    assert await shop.stock(shop.paper) == 40

    wrong_spec = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, "qualityOk": True, "specOk": False}}))[
        "receivePurchase"
    ]
    assert wrong_spec["request"]["details"]["receipts"][-1]["problems"] == ["spec does not match the request"]
    assert wrong_spec["request"]["fulfilledQuantity"] == 0
    assert await shop.stock(shop.paper) == 40
    assert [m["kind"] for m in await shop.movements(itemId=shop.paper)] == ["RECEIVE"]  # the opening stock only

    # Twelve delivered against ten outstanding: ten are taken in, the surplus is noted.
    over = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, "quantity": 12, "qualityOk": True}}))[
        "receivePurchase"
    ]
    assert (over["request"]["status"], over["request"]["fulfilledQuantity"]) == ("FULFILLED", 10)
    last = over["request"]["details"]["receipts"][-1]
    assert (last["delivered"], last["accepted"], last["problems"]) == (12, 10, ["delivered 12, only 10 outstanding"])
    assert await shop.stock(shop.paper) == 50


async def test_rejection_needs_a_comment_and_a_resubmitted_request_starts_over(shop: Shop) -> None:
    variables = {"name": "Desk lamp", "spec": "LED", "quantity": 2, "budget": 80.0}
    rid = (await shop.submit("alice", PURCHASE, variables, "requestPurchase"))["id"]
    await shop.decide("carol", rid)
    paul = await shop.user("paul")

    for comment in ("", "   "):
        refused = (await paul.ok(REJECT, {"id": rid, "comment": comment}))["rejectItemRequest"]
        assert (user_errors(refused), refused["request"]) == ([("INVALID", "comment")], None)
    assert (await shop.request(rid))["status"] == "PENDING"

    rejected = (await paul.ok(REJECT, {"id": rid, "comment": "buy from the framework supplier"}))["rejectItemRequest"]
    assert rejected["errors"] == []
    assert rejected["request"]["status"] == "REJECTED"
    assert rejected["request"]["steps"][1]["status"] == "REJECTED"
    assert rejected["request"]["steps"][1]["comment"] == "buy from the framework supplier"
    # A rejected request is not decided again, and only its requester resubmits it.
    assert user_errors((await paul.ok(APPROVE, {"id": rid}))["approveItemRequest"]) == [("NOT_ALLOWED", None)]
    assert error_codes(await (await shop.user("bob"))(RESUBMIT, {"id": rid})) == ["FORBIDDEN"]

    alice = await shop.user("alice")
    again = (await alice.ok(RESUBMIT, {"id": rid, "quantity": 3}))["resubmitItemRequest"]
    assert again["errors"] == []
    assert (again["request"]["status"], again["request"]["quantity"]) == ("PENDING", 3)
    assert again["request"]["steps"] == [
        {"who": "head", "departmentId": int(shop.eng), "status": "PENDING"},
        {"who": "role", "role": "PROCUREMENT", "status": "PENDING"},
    ]
    history = again["request"]["history"]
    assert [(h["action"], h["by"], h["comment"]) for h in history] == [
        ("submitted", int(await shop.pid("alice")), ""),
        ("approved", int(await shop.pid("carol")), ""),
        ("rejected", int(await shop.pid("paul")), "buy from the framework supplier"),
        ("resubmitted", int(await shop.pid("alice")), ""),
    ]
    twice = (await alice.ok(RESUBMIT, {"id": rid}))["resubmitItemRequest"]
    assert user_errors(twice) == [("NOT_ALLOWED", None)]
    # It goes through every step again.
    assert error_codes(await shop.approve_raw("paul", rid)) == ["FORBIDDEN"]
    await shop.decide("carol", rid)
    done = await shop.decide("paul", rid)
    assert done["status"] == "APPROVED"
    assert actions(done) == ["submitted", "approved", "rejected", "resubmitted", "approved", "approved"]


async def test_nobody_approves_their_own_request(shop: Shop) -> None:
    # carol heads Engineering: her own requisition's only step would be hers.
    own = await shop.requisition("carol", shop.paper, 2)
    assert own["steps"] == [{"who": "head", "departmentId": int(shop.eng), "status": "PENDING"}]
    assert error_codes(await shop.approve_raw("carol", own["id"])) == ["FORBIDDEN"]
    carol = await shop.user("carol")
    refused = await carol(REJECT, {"id": own["id"], "comment": "never mind"})
    assert error_codes(refused) == ["FORBIDDEN"]
    assert (await shop.request(own["id"]))["status"] == "PENDING"
    assert nodes((await carol.ok(QUEUE))["approvalQueue"]) == []


# --------------------------------------------------------------------------- requisition (4.3)


async def test_requisition_issues_from_stock_and_never_more_than_there_is(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    request = await shop.requisition("alice", shop.paper, 5, "printing the manuals")
    rid = request["id"]
    assert request["steps"] == [{"who": "head", "departmentId": int(shop.eng), "status": "PENDING"}]
    assert request["details"]["purpose"] == "printing the manuals"
    early = (await wendy.ok(ISSUE, {"id": rid, "location": shop.location}))["issueRequisition"]
    assert user_errors(early) == [("NOT_ALLOWED", "requestId")]
    assert await shop.stock(shop.paper) == 40

    assert (await shop.decide("carol", rid))["status"] == "APPROVED"
    assert error_codes(await (await shop.user("alice"))(ISSUE, {"id": rid, "location": shop.location})) == ["FORBIDDEN"]
    issued = (await wendy.ok(ISSUE, {"id": rid, "location": shop.location}))["issueRequisition"]
    assert issued["errors"] == []
    assert (issued["request"]["status"], issued["request"]["fulfilledQuantity"]) == ("FULFILLED", 5)
    assert actions(issued["request"]) == ["submitted", "approved", "issued and handed over"]
    assert await shop.stock(shop.paper) == 35
    again = (await wendy.ok(ISSUE, {"id": rid, "location": shop.location}))["issueRequisition"]
    assert user_errors(again) == [("NOT_ALLOWED", "requestId")]
    assert await shop.stock(shop.paper) == 35
    moves = await shop.movements(itemId=shop.paper, kind="ISSUE")
    assert [(m["quantity"], ref(m["person"]), ref(m["request"])) for m in moves] == [(5, await shop.pid("alice"), rid)]

    # A hundred reams asked for, thirty-five there: refused, and nothing is taken.
    big = await shop.requisition("alice", shop.paper, 100)
    await shop.decide("carol", big["id"])
    short = (await wendy.ok(ISSUE, {"id": big["id"], "location": shop.location}))["issueRequisition"]
    assert (user_errors(short), short["request"]) == ([("NOT_ALLOWED", "quantity")], None)
    assert await shop.stock(shop.paper) == 35
    assert (await shop.request(big["id"]))["status"] == "APPROVED"
    assert len(await shop.movements(itemId=shop.paper, kind="ISSUE")) == 1
    # Exactly what is there can still be issued.
    rest = await shop.requisition("alice", shop.paper, 35)
    await shop.decide("carol", rest["id"])
    emptied = (await wendy.ok(ISSUE, {"id": rest["id"], "location": shop.location}))["issueRequisition"]
    assert emptied["errors"] == [] and emptied["request"]["status"] == "FULFILLED"
    assert await shop.stock(shop.paper) == 0


async def test_a_serialized_requisition_takes_exactly_its_quantity_of_distinct_labels(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    laptops = await shop.in_stock_laptops()
    assert len(laptops) == 3
    one, two, three = (a["labelCode"] for a in laptops)
    # Another serialized item, so there is a label of the wrong kind of thing.
    variables = {"name": "Projector", "spec": "1080p", "quantity": 1, "budget": 900.0}
    pid = (await shop.submit("alice", PURCHASE, variables, "requestPurchase"))["id"]
    await shop.decide("carol", pid)
    await shop.decide("paul", pid)
    receipt = {
        "quantity": 1,
        "locationId": shop.location,
        "deliveryNote": "DN-9",
        "specOk": True,
        "qualityOk": True,
        "serialized": True,
        "category": "OTHER",
    }
    [projector] = (await wendy.ok(RECEIVE, {"id": pid, "receipt": receipt}))["receivePurchase"]["labelCodes"]

    rid = (await shop.requisition("alice", shop.laptop, 2, "two new hires"))["id"]
    await shop.decide("carol", rid)

    async def issue(codes: list[str]) -> dict[str, Any]:
        payload: dict[str, Any] = (await wendy.ok(ISSUE, {"id": rid, "location": shop.location, "codes": codes}))[
            "issueRequisition"
        ]
        return payload

    assert user_errors(await issue([])) == [("INVALID", "labelCodes")]
    assert user_errors(await issue([one])) == [("INVALID", "labelCodes")]
    assert user_errors(await issue([one, one])) == [("INVALID", "labelCodes")]
    assert user_errors(await issue([one, two, three])) == [("INVALID", "labelCodes")]
    assert user_errors(await issue([one, forge(two)])) == [("INVALID", "labelCodes")]
    assert user_errors(await issue([one, projector])) == [("MISMATCH", "labelCodes")]

    # A laptop on its way to the scrap heap is not handed out.
    scrap = (await (await shop.user("alice")).ok(SCRAP, {"code": three, "reason": "hinge broken"}))["requestScrap"]
    assert scrap["errors"] == []
    assert user_errors(await issue([one, three])) == [("NOT_ALLOWED", "labelCodes")]
    assert {a["labelCode"] for a in await shop.in_stock_laptops()} == {one, two}
    assert (await shop.request(rid))["status"] == "APPROVED"

    done = await issue([two, one])
    assert done["errors"] == [] and done["request"]["status"] == "FULFILLED"
    held = nodes((await wendy.ok(ASSETS, {"itemId": shop.laptop, "holder": await shop.pid("alice")}))["assets"])
    assert sorted((a["labelCode"], a["status"]) for a in held) == sorted([(one, "ISSUED"), (two, "ISSUED")])
    assert await shop.stock(shop.laptop) == 0
    moves = await shop.movements(itemId=shop.laptop, kind="ISSUE")
    assert sorted(ref(m["asset"]) for m in moves) == sorted(a["id"] for a in laptops[:2])
    assert {ref(m["person"]) for m in moves} == {await shop.pid("alice")}

    # An issued laptop is not issued a second time.
    more = (await shop.requisition("alice", shop.laptop, 1))["id"]
    await shop.decide("carol", more)
    twice = (await wendy.ok(ISSUE, {"id": more, "location": shop.location, "codes": [one]}))["issueRequisition"]
    assert user_errors(twice) == [("NOT_ALLOWED", "labelCodes")]


async def test_a_requisition_does_not_hand_out_another_departments_asset(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    rid = (await shop.requisition("bob", shop.laptop, 1, "a laptop for the audit"))["id"]
    assert (await shop.decide("fiona", rid))["status"] == "APPROVED"
    engineering_laptop = (await shop.in_stock_laptops())[0]
    issued = (
        await wendy.ok(ISSUE, {"id": rid, "location": shop.location, "codes": [engineering_laptop["labelCode"]]})
    )["issueRequisition"]
    assert (await shop.asset(engineering_laptop["id"]))["status"] == "IN_STOCK"
    assert user_errors(issued) == [("NOT_ALLOWED", "labelCodes")]


# --------------------------------------------------------------------------- borrowing (4.4)


async def test_borrowing_needs_both_heads_then_lends_and_returns_with_inspection(shop: Shop) -> None:
    bob, wendy = await shop.user("bob"), await shop.user("wendy")
    due = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    base = {"itemId": shop.laptop, "quantity": 1, "owner": shop.eng, "dueBack": iso(due), "purpose": "audit"}
    # Refusals: only labelled assets are lent, from another department, and not into the past.
    paper = (await bob.ok(BORROW, {**base, "itemId": shop.paper}))["requestBorrow"]
    assert (user_errors(paper), paper["request"]) == ([("INVALID", "itemId")], None)
    own = (await bob.ok(BORROW, {**base, "owner": shop.fin}))["requestBorrow"]
    assert user_errors(own) == [("INVALID", "ownerDepartmentId")]
    past = (await bob.ok(BORROW, {**base, "dueBack": iso(datetime.now(UTC) - timedelta(hours=1))}))["requestBorrow"]
    assert user_errors(past) == [("INVALID", "dueBack")]

    request = await shop.submit("bob", BORROW, base, "requestBorrow")
    rid = request["id"]
    assert request["steps"] == [
        {"who": "head", "departmentId": int(shop.fin), "status": "PENDING"},
        {"who": "head", "departmentId": int(shop.eng), "status": "PENDING"},
    ]
    assert (request["details"]["ownerDepartmentId"], request["details"]["dueBack"]) == (int(shop.eng), due.isoformat())
    laptop = (await shop.in_stock_laptops())[0]
    early = (await wendy.ok(LEND, {"id": rid, "codes": [laptop["labelCode"]]}))["lendItems"]
    assert user_errors(early) == [("NOT_ALLOWED", "requestId")]
    # The lending department's head comes second, and may not go first.
    assert error_codes(await shop.approve_raw("carol", rid)) == ["FORBIDDEN"]
    assert (await shop.decide("fiona", rid))["status"] == "PENDING"
    assert error_codes(await shop.approve_raw("fiona", rid)) == ["FORBIDDEN"]
    early = (await wendy.ok(LEND, {"id": rid, "codes": [laptop["labelCode"]]}))["lendItems"]
    assert user_errors(early) == [("NOT_ALLOWED", "requestId")]
    assert (await shop.decide("carol", rid))["status"] == "APPROVED"

    assert error_codes(await bob(LEND, {"id": rid, "codes": [laptop["labelCode"]]})) == ["FORBIDDEN"]
    lent = await shop.lend(rid, [laptop["labelCode"]])
    assert lent["details"]["lent"] == [int(laptop["id"])]
    assert lent["history"][-1]["action"] == f"lent until {due.date()}"
    asset = await shop.asset(laptop["id"])
    assert (asset["status"], ref(asset["holder"])) == ("LENT", await shop.pid("bob"))
    assert datetime.fromisoformat(asset["dueBack"]) == due
    lent_to_bob = nodes((await wendy.ok(ASSETS, {"holder": await shop.pid("bob")}))["assets"])
    assert [a["id"] for a in lent_to_bob] == [laptop["id"]]

    # Only what is lent comes back, after an inspection that says FINE or DAMAGED.
    other = next(a for a in await shop.in_stock_laptops() if a["id"] != laptop["id"])
    not_lent = (await wendy.ok(RETURN, {"code": other["labelCode"], "condition": "FINE", "location": shop.location}))[
        "returnLentItem"
    ]
    assert (user_errors(not_lent), not_lent["asset"]) == ([("NOT_ALLOWED", "labelCode")], None)
    unchecked = {"code": laptop["labelCode"], "condition": "LOOKS OK", "location": shop.location}
    assert user_errors((await wendy.ok(RETURN, unchecked))["returnLentItem"]) == [("INVALID", "condition")]
    assert (await shop.asset(laptop["id"]))["status"] == "LENT"

    back = (
        await wendy.ok(
            RETURN,
            {"code": laptop["labelCode"], "condition": "FINE", "location": shop.location, "notes": "no scratches"},
        )
    )["returnLentItem"]
    assert back["errors"] == []
    assert {k: back["asset"][k] for k in ("id", "status", "holder", "dueBack")} == {
        "id": laptop["id"],
        "status": "IN_STOCK",
        "holder": None,
        "dueBack": None,
    }
    cleared = await shop.request(rid)
    assert cleared["status"] == "FULFILLED"
    assert cleared["details"]["returned"] == [int(laptop["id"])]
    assert actions(cleared)[-1] == f"returned asset {laptop['id']} fine"
    again = (await wendy.ok(RETURN, {"code": laptop["labelCode"], "condition": "FINE", "location": shop.location}))[
        "returnLentItem"
    ]
    assert user_errors(again) == [("NOT_ALLOWED", "labelCode")]
    moves = await shop.movements(assetId=laptop["id"])
    assert [(m["kind"], m["notes"]) for m in moves] == [
        ("RECEIVE", "opening stock"),
        ("LEND", ""),
        ("RETURN", "FINE: no scratches"),
    ]
    assert ref(moves[1]["request"]) == ref(moves[2]["request"]) == rid


async def test_a_borrowing_is_lent_once(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    request = await shop.approved_borrow()
    first, second = (a["labelCode"] for a in (await shop.in_stock_laptops())[:2])
    await shop.lend(request["id"], [first])
    again = (await wendy.ok(LEND, {"id": request["id"], "codes": [second]}))["lendItems"]
    lent_to_bob = nodes((await wendy.ok(ASSETS, {"holder": await shop.pid("bob")}))["assets"])
    assert [a["labelCode"] for a in lent_to_bob] == [first]
    assert user_errors(again) == [("NOT_ALLOWED", "requestId")]


MY_ASSETS = """
query($first: Int!, $after: String) {
  myAssets(first: $first, after: $after) {
    edges { node { labelCode dueBack item { name } holder { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CATALOGUE = """
query($first: Int!, $after: String) {
  items(first: $first, after: $after) { edges { node { name } } pageInfo { hasNextPage endCursor } }
}"""


async def pages(client: GraphQLClient, query: str, field: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """Every row of a connection read one row per page, following endCursor."""
    rows: list[Any] = []
    after = None
    while True:
        page = (await client.ok(query, {**(variables or {}), "first": 1, "after": after}))[field]
        rows += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


async def test_my_assets_come_due_first_then_undated_and_page_without_gaps(shop: Shop) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    later = await shop.lent_laptop("bob", now + timedelta(days=3))
    sooner = await shop.lent_laptop("bob", now + timedelta(days=2))
    # Something of Finance's own, issued to bob for good: no return date.
    wendy = await shop.user("wendy")
    variables = {"name": "Calculator", "spec": "desk", "quantity": 1, "budget": 20.0}
    bought = (await shop.submit("bob", PURCHASE, variables, "requestPurchase"))["id"]
    await shop.decide("fiona", bought)
    await shop.decide("paul", bought)
    receipt = {
        "quantity": 1,
        "locationId": shop.location,
        "deliveryNote": "DN-C",
        "specOk": True,
        "qualityOk": True,
        "serialized": True,
    }
    received = (await wendy.ok(RECEIVE, {"id": bought, "receipt": receipt}))["receivePurchase"]
    [calculator] = received["labelCodes"]
    wanted = (await shop.requisition("bob", ref(received["request"]["item"]) or "", 1))["id"]
    await shop.decide("fiona", wanted)
    issued = await wendy.ok(ISSUE, {"id": wanted, "location": shop.location, "codes": [calculator]})
    assert issued["issueRequisition"]["errors"] == []

    bob = await shop.user("bob")
    whole = (await bob.ok(MY_ASSETS, {"first": 100}))["myAssets"]
    mine = nodes(whole)
    assert [(a["labelCode"], a["item"]["name"]) for a in mine] == [
        (sooner["labelCode"], "Laptop"),
        (later["labelCode"], "Laptop"),
        (calculator, "Calculator"),
    ]
    assert [a["dueBack"] is None for a in mine] == [False, False, True]
    assert {a["holder"]["id"] for a in mine} == {await shop.pid("bob")}
    assert await pages(bob, MY_ASSETS, "myAssets") == mine
    assert nodes((await (await shop.user("alice")).ok(MY_ASSETS, {"first": 100}))["myAssets"]) == []
    # The catalogue pages by name the same way.
    by_name = [i["name"] for i in await pages(bob, CATALOGUE, "items")]
    assert by_name == ["A4 paper", "Calculator", "Laptop", "笔记本电脑"]


async def test_overdue_loans_lists_a_loan_past_its_return_date(shop: Shop) -> None:
    due_soon = datetime.now(UTC) + timedelta(minutes=2)
    short = await shop.lent_laptop("bob", due_soon)
    long = await shop.lent_laptop("bob", datetime.now(UTC) + timedelta(days=3))
    assert short["id"] != long["id"]
    wendy = await shop.user("wendy")
    if datetime.now(UTC) < due_soon - timedelta(seconds=1):
        assert nodes((await wendy.ok(OVERDUE))["overdueLoans"]) == []
    assert shop.server.clock is not None
    shop.server.clock.advance_to(due_soon + timedelta(seconds=1))  # the server's time moves past the due date
    overdue = nodes((await wendy.ok(OVERDUE))["overdueLoans"])
    assert [(a["id"], a["status"], ref(a["holder"])) for a in overdue] == [(short["id"], "LENT", await shop.pid("bob"))]
    assert overdue[0]["labelCode"] == short["labelCode"]
    assert error_codes(await (await shop.user("alice"))(OVERDUE)) == ["FORBIDDEN"]
    # Returned, it is no longer overdue.
    back = {"code": short["labelCode"], "condition": "DAMAGED", "location": shop.location, "notes": "dented"}
    assert (await wendy.ok(RETURN, back))["returnLentItem"]["asset"]["status"] == "IN_STOCK"
    assert nodes((await wendy.ok(OVERDUE))["overdueLoans"]) == []


# --------------------------------------------------------------------------- scrapping (4.5)


async def test_scrapping_goes_head_appraisal_leadership_then_disposal(shop: Shop) -> None:
    alice, wendy = await shop.user("alice"), await shop.user("wendy")
    laptops = await shop.in_stock_laptops()
    victim, other = laptops[0], laptops[1]
    code = victim["labelCode"]

    forged = (await alice.ok(SCRAP, {"code": forge(code), "reason": "screen cracked"}))["requestScrap"]
    assert (user_errors(forged), forged["request"]) == ([("INVALID", "labelCode")], None)
    request = await shop.submit("alice", SCRAP, {"code": code, "reason": "screen cracked"}, "requestScrap")
    rid = request["id"]
    assert (request["kind"], ref(request["item"]), request["quantity"]) == ("SCRAP", shop.laptop, 1)
    assert (request["details"]["assetId"], request["details"]["reason"]) == (int(victim["id"]), "screen cracked")
    assert request["steps"] == [
        {"who": "head", "departmentId": int(shop.eng), "status": "PENDING"},
        {"who": "role", "role": "ASSET_MANAGER", "status": "PENDING"},
        {"who": "role", "role": "EXECUTIVE", "status": "PENDING"},
    ]
    assert (await shop.asset(victim["id"]))["status"] == "SCRAP_PENDING"
    assert await shop.stock(shop.laptop) == 2
    twice = (await alice.ok(SCRAP, {"code": code, "reason": "again"}))["requestScrap"]
    assert user_errors(twice) == [("NOT_ALLOWED", "labelCode")]

    assert error_codes(await shop.approve_raw("amy", rid)) == ["FORBIDDEN"]
    assert error_codes(await shop.approve_raw("eve", rid)) == ["FORBIDDEN"]
    await shop.decide("carol", rid)
    assert error_codes(await shop.approve_raw("eve", rid)) == ["FORBIDDEN"]
    appraised = await shop.decide("amy", rid, "residual value about 150 as parts")
    assert appraised["steps"][1]["status"] == "APPROVED"
    assert (appraised["steps"][1]["by"], appraised["steps"][1]["comment"]) == (
        int(await shop.pid("amy")),
        "residual value about 150 as parts",
    )
    early = (await wendy.ok(DISPOSE, {"id": rid, "code": code, "method": "RECYCLING"}))["disposeAsset"]
    assert user_errors(early) == [("NOT_ALLOWED", "requestId")]
    assert (await shop.decide("eve", rid))["status"] == "APPROVED"

    async def dispose(variables: dict[str, Any], who: str = "wendy") -> dict[str, Any]:
        payload: dict[str, Any] = (await (await shop.user(who)).ok(DISPOSE, {"id": rid, **variables}))["disposeAsset"]
        return payload

    assert error_codes(await alice(DISPOSE, {"id": rid, "code": code, "method": "RECYCLING"})) == ["FORBIDDEN"]
    assert user_errors(await dispose({"code": code, "method": "LANDFILL"})) == [("INVALID", "method")]
    assert user_errors(await dispose({"code": code, "method": "recycling"})) == [("INVALID", "method")]
    assert user_errors(await dispose({"code": other["labelCode"], "method": "RECYCLING"})) == [
        ("MISMATCH", "labelCode")
    ]
    assert user_errors(await dispose({"code": forge(code), "method": "RECYCLING"})) == [("INVALID", "labelCode")]
    assert (await shop.asset(victim["id"]))["status"] == "SCRAP_PENDING"
    assert (await shop.asset(other["id"]))["status"] == "IN_STOCK"

    done = await dispose({"code": code, "method": "RECYCLING", "notes": "GreenCycle ticket 88"}, "amy")
    assert done["errors"] == []
    assert done["request"]["status"] == "FULFILLED"
    assert actions(done["request"]) == ["submitted", "approved", "approved", "approved", "disposed by recycling"]
    assert (await shop.asset(victim["id"]))["status"] == "DISPOSED"
    assert user_errors(await dispose({"code": code, "method": "SALE"})) == [("NOT_ALLOWED", "requestId")]
    moves = await shop.movements(assetId=victim["id"])
    assert [(m["kind"], m["notes"]) for m in moves] == [
        ("RECEIVE", "opening stock"),
        ("DISPOSE", "RECYCLING: GreenCycle ticket 88"),
    ]
    assert ref(moves[1]["request"]) == rid

    # Never again issued, lent, scrapped or carried out.
    req = (await shop.requisition("alice", shop.laptop, 1))["id"]
    await shop.decide("carol", req)
    issued = (await wendy.ok(ISSUE, {"id": req, "location": shop.location, "codes": [code]}))["issueRequisition"]
    assert user_errors(issued) == [("NOT_ALLOWED", "labelCodes")]
    loan = await shop.approved_borrow()
    lent = (await wendy.ok(LEND, {"id": loan["id"], "codes": [code]}))["lendItems"]
    assert user_errors(lent) == [("NOT_ALLOWED", "labelCodes")]
    rescrap = (await alice.ok(SCRAP, {"code": code, "reason": "again"}))["requestScrap"]
    assert user_errors(rescrap) == [("NOT_ALLOWED", "labelCode")]
    assert (await shop.asset(victim["id"]))["status"] == "DISPOSED"

    out = shop.gate("Lobby turnstile out")
    guard = await shop.user("guard")
    async with gate_device(shop) as gate:
        check = await declare(shop, "alice", out, code)
        seen = await scan_item(gate, out, code, "scrap-1")
        assert (seen["known"], seen["name"], seen["problem"], seen["checkId"]) == (
            True,
            "Laptop",
            "scrapped",
            check["id"],
        )
        held = (await guard.ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]["check"]
        assert (held["status"], held["problems"]) == ("HELD", ["Laptop: scrapped"])
        allowed = (await guard.ok(DECIDE, {"id": check["id"], "allow": True, "note": "it is only scrap"}))[
            "decideItemCheck"
        ]
        assert (user_errors(allowed), allowed["check"]) == ([("NOT_ALLOWED", "allow")], None)
        await no_command(gate)
        refused = (await guard.ok(DECIDE, {"id": check["id"], "allow": False, "note": "scrapped asset"}))[
            "decideItemCheck"
        ]
        assert refused["check"]["status"] == "REFUSED"
        await no_command(gate, 0.5)
    assert [m["kind"] for m in await shop.movements(assetId=victim["id"])] == ["RECEIVE", "DISPOSE"]


async def test_only_an_asset_in_stock_is_put_up_for_scrapping(shop: Shop) -> None:
    lent = await shop.lent_laptop("bob")
    alice = await shop.user("alice")
    refused = (await alice.ok(SCRAP, {"code": lent["labelCode"], "reason": "old"}))["requestScrap"]
    assert user_errors(refused) == [("NOT_ALLOWED", "labelCode")]
    assert (await shop.asset(lent["id"]))["status"] == "LENT"
    not_an_asset = (await alice.ok(SCRAP, {"code": "GHI1:AAAAAAAAB", "reason": "old"}))["requestScrap"]
    assert user_errors(not_an_asset) == [("INVALID", "labelCode")]


# --------------------------------------------------------------------------- labels


def decoded(image: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode)


async def test_label_sheets_carry_the_assets_codes_and_a_changed_label_is_refused(shop: Shop) -> None:
    laptops = await shop.in_stock_laptops()
    ids = ",".join(a["id"] for a in laptops)
    codes = sorted(a["labelCode"] for a in laptops)
    assert len(codes) == 3 and all(LABEL.match(c) for c in codes)
    wendy = await shop.user("wendy")

    async def fetch(fmt: str, token: str | None, assets: str = ids) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.get(f"{shop.server.http}/labels.{fmt}", params={"assets": assets}, headers=headers)

    png = await fetch("png", wendy.token)
    assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
    assert decoded(Image.open(io.BytesIO(png.content))) == codes

    pdf = await fetch("pdf", wendy.token)
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    document = pypdfium2.PdfDocument(pdf.content)
    assert len(document) == 1
    assert decoded(document[0].render(scale=3).to_pil()) == codes

    # One label alone, and the asset manager may print too.
    single = await fetch("png", (await shop.user("amy")).token, laptops[1]["id"])
    assert single.status_code == 200
    assert decoded(Image.open(io.BytesIO(single.content))) == [laptops[1]["labelCode"]]

    for fmt in ("png", "pdf"):
        assert (await fetch(fmt, None)).status_code == 401
        assert (await fetch(fmt, "not-a-token")).status_code == 401
        assert (await fetch(fmt, (await shop.user("alice")).token)).status_code == 403
        assert (await fetch(fmt, (await shop.user("guard")).token)).status_code == 403
        assert (await fetch(fmt, wendy.token, "1,x")).status_code == 400
        assert (await fetch(fmt, wendy.token, "")).status_code == 400
        assert (await fetch(fmt, wendy.token, "99999")).status_code == 404
    assert (await fetch("svg", wendy.token)).status_code == 404

    # A copied label with one character of its MAC changed names nothing.
    original = laptops[0]["labelCode"]
    fake = forge(original)
    assert fake != original and len(fake) == len(original) and LABEL.match(fake)
    # Another asset's number under this label's MAC is no better.
    spliced = laptops[1]["labelCode"].rsplit(":", 1)[0] + ":" + original.rsplit(":", 1)[1]
    out = shop.gate("Lobby turnstile out")
    async with gate_device(shop) as gate:
        check = await declare(shop, "bob", out, fake)
        for ref, code in (("f-1", fake), ("f-2", spliced)):
            reply = await scan_item(gate, out, code, ref)
            assert (reply["known"], reply["name"], reply["problem"], reply["checkId"]) == (
                False,
                None,
                "forged_label",
                check["id"],
            ), code
        held = (await (await shop.user("guard")).ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]["check"]
        assert held["status"] == "HELD"
        assert f"{fake}: forged_label" in held["problems"]
    alice = await shop.user("alice")
    for code in (fake, spliced):
        scrap = (await alice.ok(SCRAP, {"code": code, "reason": "broken"}))["requestScrap"]
        assert user_errors(scrap) == [("INVALID", "labelCode")]
        back = (await wendy.ok(RETURN, {"code": code, "condition": "FINE", "location": shop.location}))[
            "returnLentItem"
        ]
        assert user_errors(back) == [("INVALID", "labelCode")]
    loan = await shop.approved_borrow()
    lent = (await wendy.ok(LEND, {"id": loan["id"], "codes": [fake]}))["lendItems"]
    assert user_errors(lent) == [("INVALID", "labelCodes")]
    req = (await shop.requisition("alice", shop.laptop, 1))["id"]
    await shop.decide("carol", req)
    issued = (await wendy.ok(ISSUE, {"id": req, "location": shop.location, "codes": [fake]}))["issueRequisition"]
    assert user_errors(issued) == [("INVALID", "labelCodes")]
    assert sorted(a["labelCode"] for a in await shop.in_stock_laptops()) == codes


# --------------------------------------------------------------------------- gate item checks (2.4-2.5)


async def test_gate_item_checks_clear_hold_and_refuse_and_every_movement_is_traced(shop: Shop) -> None:
    guard = await shop.user("guard")
    out = shop.gate("Lobby turnstile out")
    lent = await shop.lent_laptop("bob")
    others = [a for a in await shop.in_stock_laptops() if a["id"] != lent["id"]]
    assert len(others) == 2
    async with gate_device(shop) as gate:
        # bob carries out the laptop lent to him: known, no problem, and the guard clears it.
        check = await declare(shop, "bob", out, lent["labelCode"])
        assert (ref(check["person"]), ref(check["gate"]), check["direction"]) == (await shop.pid("bob"), out, "OUT")
        assert check["declared"] == [{"description": "laptop", "labelCode": lent["labelCode"], "quantity": 1}]
        reply = await scan_item(gate, out, lent["labelCode"], "bob-1")
        assert reply == {
            "type": "item_result",
            "ref": "bob-1",
            "known": True,
            "name": "Laptop",
            "problem": None,
            "checkId": check["id"],
        }
        assert error_codes(await (await shop.user("alice"))(COMPLETE, {"id": check["id"]})) == ["FORBIDDEN"]
        cleared = (await guard.ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]
        assert cleared["errors"] == []
        assert (cleared["check"]["status"], cleared["check"]["problems"]) == ("CLEARED", [])
        assert [e["assetId"] for e in cleared["check"]["scanned"]] == [int(lent["id"])]
        command = await next_command(gate)
        assert (command["command"], command["gateId"], command["reason"]) == ("open", out, "items checked")
        assert command["durationMs"] == 3000
        again = (await guard.ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]
        assert user_errors(again) == [("NOT_ALLOWED", None)]
        assert user_errors((await guard.ok(DECIDE, {"id": check["id"], "allow": True}))["decideItemCheck"]) == [
            ("NOT_ALLOWED", None)
        ]

        # carol carries an Engineering laptop nobody issued to her: held until a guard decides.
        alerts_before = {a["id"] for a in (await guard.ok(ALERTS))["deviceAlerts"]}
        check = await declare(shop, "carol", out, others[0]["labelCode"])
        reply = await scan_item(gate, out, others[0]["labelCode"], "carol-1")
        assert (reply["known"], reply["name"], reply["problem"]) == (True, "Laptop", "not_yours")
        held = (await guard.ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]["check"]
        assert (held["status"], held["problems"]) == ("HELD", ["Laptop: not_yours"])
        alerts = [a for a in (await guard.ok(ALERTS))["deviceAlerts"] if a["id"] not in alerts_before]
        assert [(a["kind"], a["gateId"]) for a in alerts] == [("item_check", out)]
        assert "not_yours" in alerts[0]["message"]
        await no_command(gate)
        assert error_codes(await (await shop.user("carol"))(DECIDE, {"id": check["id"], "allow": True})) == [
            "FORBIDDEN"
        ]
        allowed = (await guard.ok(DECIDE, {"id": check["id"], "allow": True, "note": "carol signs for it"}))[
            "decideItemCheck"
        ]
        assert allowed["errors"] == [] and allowed["check"]["status"] == "CLEARED"
        command = await next_command(gate)
        assert (command["command"], command["gateId"]) == ("open", out)

        # The same again, refused: the gate stays shut.
        check = await declare(shop, "carol", out, others[1]["labelCode"])
        reply = await scan_item(gate, out, others[1]["labelCode"], "carol-2")
        assert reply["problem"] == "not_yours"
        held = (await guard.ok(COMPLETE, {"id": check["id"]}))["completeItemCheck"]["check"]
        assert held["status"] == "HELD"
        refused = (await guard.ok(DECIDE, {"id": check["id"], "allow": False, "note": "not hers"}))["decideItemCheck"]
        assert refused["check"]["status"] == "REFUSED"
        await no_command(gate)
        assert user_errors((await guard.ok(DECIDE, {"id": check["id"], "allow": True}))["decideItemCheck"]) == [
            ("NOT_ALLOWED", None)
        ]

        # A label scanned where nothing was declared joins no one's check: it is held on its own
        # (tests/test_item_journeys.py follows that record).
        stray = await scan_item(gate, out, others[1]["labelCode"], "stray-1")
        assert (stray["known"], stray["problem"]) == (True, "no_declaration")
        assert stray["checkId"] not in {check["id"]}

    wendy = await shop.user("wendy")
    back = {"code": lent["labelCode"], "condition": "FINE", "location": shop.location}
    assert (await wendy.ok(RETURN, back))["returnLentItem"]["asset"]["status"] == "IN_STOCK"

    moves = await shop.movements(assetId=lent["id"])
    assert [m["kind"] for m in moves] == ["RECEIVE", "LEND", "GATE_OUT", "RETURN"]
    assert (ref(moves[2]["person"]), ref(moves[2]["gate"])) == (await shop.pid("bob"), out)
    gate_out = await shop.movements(kind="GATE_OUT")
    assert [(ref(m["asset"]), ref(m["person"])) for m in gate_out] == [
        (lent["id"], await shop.pid("bob")),
        (others[0]["id"], await shop.pid("carol")),
    ]
    assert [m["kind"] for m in await shop.movements(personId=await shop.pid("bob"))] == ["LEND", "GATE_OUT"]
    assert [m["kind"] for m in await shop.movements(personId=await shop.pid("carol"))] == ["GATE_OUT"]
    office = await shop.movements(category="OFFICE_SUPPLIES")
    assert [(m["kind"], ref(m["item"]), m["quantity"]) for m in office] == [("RECEIVE", shop.paper, 40)]
    assert {ref(m["item"]) for m in await shop.movements(category="OTHER")} == {shop.laptop}
    assert await shop.movements(category="MAINTENANCE_PARTS") == []
    assert await shop.movements(kind="DISPOSE") == []
    for who in ("alice", "bob", "guard"):
        body = await (await shop.user(who))(MOVEMENTS, {"first": 10, "assetId": lent["id"]})
        assert error_codes(body) == ["FORBIDDEN"], who


# --------------------------------------------------------------------------- the approval queue


async def test_approval_queue_lists_exactly_the_callers_pending_steps(shop: Shop) -> None:
    r1 = (await shop.requisition("alice", shop.paper, 3))["id"]
    purchase = {"name": "Monitor", "spec": "27-inch", "quantity": 2, "budget": 600.0}
    p1 = (await shop.submit("alice", PURCHASE, purchase, "requestPurchase"))["id"]
    b1 = (await shop.borrow("bob"))["id"]
    b2 = (await shop.borrow("bob"))["id"]
    await shop.decide("fiona", b2)
    own = (await shop.requisition("carol", shop.paper, 1))["id"]
    done = (await shop.requisition("alice", shop.paper, 1))["id"]
    await shop.decide("carol", done)
    scrap_code = (await shop.in_stock_laptops())[0]["labelCode"]
    s1 = (await shop.submit("alice", SCRAP, {"code": scrap_code, "reason": "old"}, "requestScrap"))["id"]

    async def queue(who: str) -> list[tuple[str, str]]:
        rows = nodes((await (await shop.user(who)).ok(QUEUE))["approvalQueue"])
        assert {r["status"] for r in rows} <= {"PENDING"}
        return [(r["id"], r["kind"]) for r in rows]

    assert await queue("carol") == [(r1, "REQUISITION"), (p1, "PURCHASE"), (b2, "BORROW"), (s1, "SCRAP")]
    assert await queue("fiona") == [(b1, "BORROW")]
    for who in ("paul", "amy", "eve", "alice", "bob", "wendy"):
        assert await queue(who) == [], who
    assert own not in [r for r, _ in await queue("carol")]

    await shop.decide("carol", p1)
    await shop.decide("carol", s1)
    assert await queue("paul") == [(p1, "PURCHASE")]
    assert await queue("amy") == [(s1, "SCRAP")]
    assert await queue("carol") == [(r1, "REQUISITION"), (b2, "BORROW")]
    await shop.decide("amy", s1, "no resale value")
    assert (await queue("amy"), await queue("eve")) == ([], [(s1, "SCRAP")])
    assert await queue("audrey") == []


@contextlib.asynccontextmanager
async def queue_updates(shop: Shop, who: str) -> AsyncIterator[AsyncGenerator[dict[str, Any], None]]:
    async with harness.gql_subscription(shop.server, (await shop.user(who)).token, QUEUE_UPDATES) as stream:
        yield stream


async def test_approval_queue_updates_push_a_new_borrowing_to_its_first_approver(shop: Shop) -> None:
    async with queue_updates(shop, "fiona") as fiona_stream, queue_updates(shop, "carol") as carol_stream:
        to_fiona = asyncio.ensure_future(fiona_stream.__anext__())
        to_carol = asyncio.ensure_future(carol_stream.__anext__())
        await asyncio.sleep(1.0)  # let the server register both subscriptions
        assert not to_fiona.done() and not to_carol.done()
        started = time.monotonic()
        request = await shop.borrow("bob", purpose="year-end audit")
        pushed = (await asyncio.wait_for(to_fiona, 10))["approvalQueueUpdates"]
        assert time.monotonic() - started < 10
        assert pushed == {
            "id": request["id"],
            "kind": "BORROW",
            "status": "PENDING",
            "requester": {"id": await shop.pid("bob")},
            "steps": request["steps"],
        }
        # carol's step comes second: she hears of it only once fiona has approved.
        await asyncio.sleep(1.0)
        assert not to_carol.done()
        await shop.decide("fiona", request["id"])
        for_carol = (await asyncio.wait_for(to_carol, 10))["approvalQueueUpdates"]
        assert (for_carol["id"], for_carol["status"]) == (request["id"], "PENDING")
        assert [s["status"] for s in for_carol["steps"]] == ["APPROVED", "PENDING"]
        # fiona's step is done: carol's approval is nothing for fiona's queue.
        to_fiona = asyncio.ensure_future(fiona_stream.__anext__())
        await shop.decide("carol", request["id"])
        await asyncio.sleep(1.0)
        assert not to_fiona.done()
        to_fiona.cancel()
        with contextlib.suppress(BaseException):
            await to_fiona
