"""Stocktakes (issue 18, POLICY 7.2 stock accuracy; README "Stocktakes"), end to end on one real
server for the module: wendy keeps the warehouse and counts; her department (Facilities) has no
head, so an adjustment's first step falls to ADMIN (README "Approvals"), then amy
(ASSET_MANAGER) decides. Assets arrive through the real purchase flow, labels are the
server's, the handheld is the demo device on the real WebSocket protocol. The variance
computation and the stock_difference finding source also run on PostgreSQL (tests/dialects.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from resolvers.core.actor import Actor
from resolvers.core.models import (
    Asset,
    AssetStatus,
    Item,
    ItemCategory,
    PersonKind,
    Role,
    StockLevel,
    StockLocation,
    StocktakeVariance,
)
from resolvers.items import stocktakes
from resolvers.supervision import proposals
from resolvers.supervision.proposals import Period
from tests import harness
from tests.dialects import database_param, run_on
from tests.harness import Gate, SiteTemplate, World

ERRORS = "errors { code message field }"
REQUEST = "id kind status steps"
VARIANCES = (
    "variances { id kind asset { id status } item { id } location { id } recordedLocation { id } "
    "expected counted difference adjustedAt request { id status } }"
)
OPEN = f"mutation($loc: ID) {{ openStocktake(locationId: $loc) {{ stocktake {{ id status }} {ERRORS} }} }}"
SCAN = f"""mutation($st: ID!, $label: String!, $loc: ID!) {{
  recordStocktakeScan(stocktakeId: $st, label: $label, locationId: $loc) {{ counted {ERRORS} }} }}"""
COUNT = f"""mutation($st: ID!, $item: ID!, $loc: ID!, $q: Int!) {{
  recordStocktakeCount(stocktakeId: $st, itemId: $item, locationId: $loc, quantity: $q) {{
    stocktake {{ id }} {ERRORS} }} }}"""
ASSIGN = f"""mutation($st: ID!, $dev: ID!, $loc: ID!) {{
  assignStocktakeDevice(stocktakeId: $st, deviceId: $dev, locationId: $loc) {{ stocktake {{ id }} {ERRORS} }} }}"""
CLOSE = f"mutation($id: ID!) {{ closeStocktake(id: $id) {{ stocktake {{ id status scanned {VARIANCES} }} {ERRORS} }} }}"
ADJUST = f"""mutation($st: ID!, $ids: [ID!]!, $reason: String!) {{
  requestStocktakeAdjustment(stocktakeId: $st, varianceIds: $ids, reason: $reason) {{
    request {{ {REQUEST} }} {ERRORS} }} }}"""
APPROVE = f"mutation($id: ID!) {{ approveItemRequest(id: $id) {{ request {{ {REQUEST} }} {ERRORS} }} }}"
LIST = "query($status: StocktakeStatus) { stocktakes(first: 50, status: $status) { edges { node { id status } } } }"
RELEASE = f"mutation($dev: ID!) {{ releaseStocktakeDevice(deviceId: $dev) {{ released {ERRORS} }} }}"
REQUISITION = f"""mutation($item: ID!, $q: Int!, $purpose: String!) {{
  requestRequisition(itemId: $item, quantity: $q, purpose: $purpose) {{ request {{ id }} {ERRORS} }} }}"""
ISSUE = f"""mutation($id: ID!, $loc: ID!, $codes: [String!]) {{
  issueRequisition(requestId: $id, locationId: $loc, labelCodes: $codes) {{ request {{ id }} {ERRORS} }} }}"""
REJECT = f"""mutation($id: ID!, $comment: String!) {{
  rejectItemRequest(id: $id, comment: $comment) {{ request {{ {REQUEST} }} {ERRORS} }} }}"""
STOCKTAKE = f"query($id: ID!) {{ stocktake(id: $id) {{ id status scanned {VARIANCES} }} }}"
PURCHASE = f"""mutation($name: String!, $q: Int!, $item: ID, $serialized: Boolean, $category: ItemCategory) {{
  requestPurchase(name: $name, quantity: $q, budget: 100, itemId: $item, serialized: $serialized,
                  category: $category) {{ request {{ id }} {ERRORS} }} }}"""
RECEIVE = f"""mutation($id: ID!, $receipt: ReceiptInput!) {{
  receivePurchase(requestId: $id, receipt: $receipt) {{ labelCodes {ERRORS} }} }}"""
ITEMS = "{ items(first: 100) { edges { node { id name inStock } } } }"
MOVEMENTS = """query($kind: String) { itemMovements(first: 100, kind: $kind) {
  edges { node { kind asset { id } item { id } quantity request { id } } } } }"""
AUDIT = """query($action: String) {
  auditLog(first: 50, action: $action) { edges { node { action actorName detail } } } }"""
LOCATION = f"mutation($name: String!) {{ createStockLocation(name: $name) {{ location {{ id }} {ERRORS} }} }}"

_names = itertools.count(1)


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["errors"] == [], payload
    return payload


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


class Warehouse(World):
    async def location(self) -> str:
        data = await self.client("wendy").ok(LOCATION, {"name": f"Shelf {next(_names)} 货架"})
        return str(ok(data["createStockLocation"])["location"]["id"])

    async def receive(self, location: str, quantity: int, item: str | None = None) -> list[str]:
        """Goods bought (wendy asks, the fallback ADMIN and paul approve) and received at `location`:
        the labels of new assets, or none for stock of `item`."""
        wendy = self.client("wendy")
        variables = {"name": f"Scanner {next(_names)}", "q": quantity, "item": item}
        if item is None:
            variables |= {"serialized": True, "category": "OTHER"}
        request = ok((await wendy.ok(PURCHASE, variables))["requestPurchase"])["request"]["id"]
        for who in ("admin", "paul"):
            ok((await self.client(who).ok(APPROVE, {"id": request}))["approveItemRequest"])
        receipt = {
            "quantity": quantity,
            "locationId": location,
            "deliveryNote": "DN-1",
            "specOk": True,
            "qualityOk": True,
            "serialized": item is None,
        }
        payload = ok((await wendy.ok(RECEIVE, {"id": request, "receipt": receipt}))["receivePurchase"])
        return list(payload["labelCodes"])

    async def open(self, location: str | None) -> str:
        data = await self.client("wendy").ok(OPEN, {"loc": location})
        return str(ok(data["openStocktake"])["stocktake"]["id"])

    async def scan(self, stocktake: str, label: str, location: str, who: str = "wendy") -> dict[str, Any]:
        data = await self.client(who).ok(SCAN, {"st": stocktake, "label": label, "loc": location})
        payload: dict[str, Any] = data["recordStocktakeScan"]
        return payload

    async def close(self, stocktake: str) -> dict[str, Any]:
        data = await self.client("wendy").ok(CLOSE, {"id": stocktake})
        closed: dict[str, Any] = ok(data["closeStocktake"])["stocktake"]
        return closed

    async def stock(self, item: str) -> int:
        rows = (await self.client("wendy").ok(ITEMS))["items"]["edges"]
        return int(next(e["node"]["inStock"] for e in rows if e["node"]["id"] == item))


@pytest.fixture(scope="module")
def world(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("stocktakes"))
    site.start_server()
    try:
        yield Warehouse(site)
    finally:
        site.let_go()


def kinds(stocktake: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return sorted(
        (v["kind"], v["asset"]["id"] if v["asset"] else None, v["location"]["id"] if v["location"] else None)
        for v in stocktake["variances"]
    )


async def test_one_missing_and_one_unexpected_asset_are_exactly_the_variances(world: Warehouse) -> None:
    here, elsewhere = await world.location(), await world.location()
    kept, lost = await world.receive(here, 2)
    (stray,) = await world.receive(elsewhere, 1)
    stocktake = await world.open(here)
    ok(await world.scan(stocktake, kept, here))
    ok(await world.scan(stocktake, stray, here))
    closed = await world.close(stocktake)
    assert closed["status"] == "COUNTED" and closed["scanned"] == 2
    lost_id, stray_id = await _asset_ids(world, [lost, stray])
    assert kinds(closed) == sorted([("MISSING", lost_id, here), ("UNEXPECTED", stray_id, here)])
    unexpected = next(v for v in closed["variances"] if v["kind"] == "UNEXPECTED")
    assert unexpected["recordedLocation"]["id"] == elsewhere
    assert (unexpected["expected"], unexpected["counted"], unexpected["difference"]) == (0, 1, 1)
    # The report reads the same afterwards, for anyone who reads items.
    again = (await world.client("audrey").ok(STOCKTAKE, {"id": stocktake}))["stocktake"]
    assert kinds(again) == kinds(closed)
    listed = (await world.client("audrey").ok(LIST, {"status": "COUNTED"}))["stocktakes"]["edges"]
    assert stocktake in [e["node"]["id"] for e in listed]
    assert all(e["node"]["status"] == "COUNTED" for e in listed)


async def _asset_ids(world: Warehouse, labels: list[str]) -> list[str]:
    """Assets by their labels, through the API (assets' labelCode)."""
    query = "{ assets(first: 100) { edges { node { id labelCode } } } }"
    rows = (await world.client("wendy").ok(query))["assets"]["edges"]
    by_label = {e["node"]["labelCode"]: e["node"]["id"] for e in rows}
    return [by_label[label] for label in labels]


async def test_a_label_scanned_twice_counts_once_and_stock_differences_are_quantities(world: Warehouse) -> None:
    here = await world.location()
    (laptop,) = await world.receive(here, 1)
    paper = next(
        e["node"]["id"]
        for e in (await world.client("wendy").ok(ITEMS))["items"]["edges"]
        if e["node"]["name"] == "A4 paper"
    )
    assert await world.receive(here, 10, item=paper) == []
    stocktake = await world.open(here)
    assert ok(await world.scan(stocktake, laptop, here))["counted"] is True
    assert ok(await world.scan(stocktake, laptop, here))["counted"] is False
    ok(
        (await world.client("wendy").ok(COUNT, {"st": stocktake, "item": paper, "loc": here, "q": 9}))[
            "recordStocktakeCount"
        ]
    )
    # Counted again: the second figure replaces the first.
    ok(
        (await world.client("wendy").ok(COUNT, {"st": stocktake, "item": paper, "loc": here, "q": 7}))[
            "recordStocktakeCount"
        ]
    )
    closed = await world.close(stocktake)
    assert closed["scanned"] == 1
    assert [
        (v["kind"], v["item"]["id"], v["expected"], v["counted"], v["difference"]) for v in closed["variances"]
    ] == [("QUANTITY", paper, 10, 7, -3)]


async def test_a_handheld_assigned_to_the_stocktake_counts_its_label_scans(world: Warehouse) -> None:
    here = await world.location()
    first, second = await world.receive(here, 2)
    stocktake = await world.open(here)
    ok(
        (await world.client("wendy").ok(ASSIGN, {"st": stocktake, "dev": world.demo.device_id, "loc": here}))[
            "assignStocktakeDevice"
        ]
    )
    gate = world.gate("Lobby turnstile in")
    async with harness.connected(Gate(world.server, world.demo.device_id, world.demo.device_secret)) as handheld:
        counted = await handheld.scan(gate, first)
        assert counted == {"type": "decision", "ref": counted["ref"], "granted": False, "reason": "stocktake_counted"}
        # The device's retry of that very scan (same ref, same label) gets the same answer.
        assert await handheld.scan(gate, first, ref=counted["ref"]) == counted
        again = await handheld.scan(gate, first)
        assert (again["granted"], again["reason"]) == (False, "stocktake_counted_before")
        forged = first[:-1] + ("A" if first[-1] != "A" else "B")
        assert (await handheld.scan(gate, forged))["reason"] == "stocktake_bad_label"
        # Released, the handheld is a gate scanner again; assigned again, it counts again.
        wendy = world.client("wendy")
        released = (await wendy.ok(RELEASE, {"dev": world.demo.device_id}))["releaseStocktakeDevice"]
        assert released == {"released": True, "errors": []}
        assert not (await handheld.scan(gate, second))["reason"].startswith("stocktake_")
        ok(
            (await wendy.ok(ASSIGN, {"st": stocktake, "dev": world.demo.device_id, "loc": here}))[
                "assignStocktakeDevice"
            ]
        )
        closed = await world.close(stocktake)
        assert closed["scanned"] == 1
        second_id = (await _asset_ids(world, [second]))[0]
        assert kinds(closed) == [("MISSING", second_id, here)]
        # The count is over: the device is a gate scanner again (a label is no pass).
        after = await handheld.scan(gate, first)
        assert not after["granted"] and not after["reason"].startswith("stocktake_"), after


async def test_an_adjustment_is_approved_by_the_right_people_and_corrects_with_movements(world: Warehouse) -> None:
    here, elsewhere = await world.location(), await world.location()
    kept, lost = await world.receive(here, 2)
    (moved,) = await world.receive(elsewhere, 1)
    paper = next(
        e["node"]["id"]
        for e in (await world.client("wendy").ok(ITEMS))["items"]["edges"]
        if e["node"]["name"] == "A4 paper"
    )
    await world.receive(here, 5, item=paper)
    stocktake = await world.open(here)
    for label in (kept, moved):
        ok(await world.scan(stocktake, label, here))
    ok(
        (await world.client("wendy").ok(COUNT, {"st": stocktake, "item": paper, "loc": here, "q": 8}))[
            "recordStocktakeCount"
        ]
    )
    closed = await world.close(stocktake)
    ids = [v["id"] for v in closed["variances"]]
    assert sorted(v["kind"] for v in closed["variances"]) == ["MISSING", "QUANTITY", "UNEXPECTED"]
    paper_before = await world.stock(paper)
    wendy = world.client("wendy")
    request = ok(
        (await wendy.ok(ADJUST, {"st": stocktake, "ids": ids, "reason": "盘点差异 Zoë"}))["requestStocktakeAdjustment"]
    )["request"]
    assert request["kind"] == "STOCKTAKE" and request["status"] == "PENDING"
    # Asked once: the same variances cannot be put into a second request meanwhile.
    twice = (await wendy.ok(ADJUST, {"st": stocktake, "ids": ids[:1], "reason": "again"}))["requestStocktakeAdjustment"]
    assert [e["code"] for e in twice["errors"]] == ["CONFLICT"]
    # The requester never approves; the asset manager does not take the head's step.
    assert codes(await wendy(APPROVE, {"id": request["id"]})) == ["FORBIDDEN"]
    assert codes(await world.client("amy")(APPROVE, {"id": request["id"]})) == ["FORBIDDEN"]
    step = ok((await world.client("admin").ok(APPROVE, {"id": request["id"]}))["approveItemRequest"])["request"]
    assert step["status"] == "PENDING"
    assert codes(await world.client("admin")(APPROVE, {"id": request["id"]})) == ["FORBIDDEN"]  # amy's step
    done = ok((await world.client("amy").ok(APPROVE, {"id": request["id"]}))["approveItemRequest"])["request"]
    assert done["status"] == "FULFILLED"
    after = (await world.client("wendy").ok(STOCKTAKE, {"id": stocktake}))["stocktake"]
    assert after["status"] == "CLOSED" and all(v["adjustedAt"] for v in after["variances"])
    assert await world.stock(paper) == paper_before + 3
    lost_id, moved_id = await _asset_ids(world, [lost, moved])
    statuses = {v["asset"]["id"]: v["asset"]["status"] for v in after["variances"] if v["asset"]}
    assert statuses == {lost_id: "MISSING", moved_id: "IN_STOCK"}
    rows = [e["node"] for e in (await world.client("audrey").ok(MOVEMENTS))["itemMovements"]["edges"]]
    mine = sorted(
        (r["kind"], r["asset"]["id"] if r["asset"] else None, r["quantity"])
        for r in rows
        if r["request"] and r["request"]["id"] == request["id"]
    )
    assert mine == sorted(
        [("STOCKTAKE_MISSING", lost_id, 1), ("STOCKTAKE_RELOCATE", moved_id, 1), ("STOCKTAKE_ADJUST", None, 3)]
    )
    # Audited: who opened and closed the count, who asked, and the approval that corrected it.
    for action, who, says in (
        ("openStocktake", "Wendy Sun", f'"id": "{stocktake}"'),
        ("closeStocktake", "Wendy Sun", '"COUNTED"'),
        ("requestStocktakeAdjustment", "Wendy Sun", '"STOCKTAKE"'),
        ("approveItemRequest", "Amy Hu", f'"adjusted": [{", ".join(sorted(ids, key=int))}]'),
    ):
        entries = (await world.client("audrey").ok(AUDIT, {"action": action}))["auditLog"]["edges"]
        assert any(e["node"]["actorName"] == who and says in json.dumps(e["node"]["detail"]) for e in entries), (
            action,
            entries,
        )
    # The moved asset is where the count found it: a new count of `here` expects it there.
    recount = await world.open(here)
    for label in (kept, moved):
        ok(await world.scan(recount, label, here))
    ok(
        (await world.client("wendy").ok(COUNT, {"st": recount, "item": paper, "loc": here, "q": 8}))[
            "recordStocktakeCount"
        ]
    )
    assert (await world.close(recount))["variances"] == []


async def test_refusals_leave_nothing_changed(world: Warehouse) -> None:
    here, other = await world.location(), await world.location()
    (label,) = await world.receive(here, 1)
    alice = world.client("alice")
    assert codes(await alice(OPEN, {"loc": here})) == ["FORBIDDEN"]
    stocktake = await world.open(here)
    assert codes(await alice(SCAN, {"st": stocktake, "label": label, "loc": here})) == ["FORBIDDEN"]
    wendy = world.client("wendy")
    # A second count of the same place while one is open.
    assert [e["code"] for e in (await wendy.ok(OPEN, {"loc": here}))["openStocktake"]["errors"]] == ["CONFLICT"]
    forged = label[:-1] + ("A" if label[-1] != "A" else "B")
    for bad, field_code in (
        ({"label": "GHI1:not-a-label", "loc": here}, ("INVALID", "label")),
        ({"label": forged, "loc": here}, ("INVALID", "label")),  # as another site's key would sign it
        ({"label": label, "loc": other}, ("INVALID", "locationId")),  # outside the count's location
    ):
        errors = (await world.scan(stocktake, str(bad["label"]), str(bad["loc"])))["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [field_code], errors
    assert (await wendy.ok(RELEASE, {"dev": "nope"}))["releaseStocktakeDevice"]["errors"][0]["code"] == "NOT_FOUND"
    paper = next(e["node"]["id"] for e in (await wendy.ok(ITEMS))["items"]["edges"] if e["node"]["name"] == "A4 paper")
    negative = (await wendy.ok(COUNT, {"st": stocktake, "item": paper, "loc": here, "q": -1}))["recordStocktakeCount"]
    assert [(e["code"], e["field"]) for e in negative["errors"]] == [("INVALID", "quantity")]
    closed = await world.close(stocktake)
    assert closed["scanned"] == 0 and [v["kind"] for v in closed["variances"]] == ["MISSING"]
    late = await world.scan(stocktake, label, here)
    assert [e["code"] for e in late["errors"]] == ["NOT_ALLOWED"]
    again = (await wendy.ok(CLOSE, {"id": stocktake}))["closeStocktake"]
    assert [e["code"] for e in again["errors"]] == ["NOT_ALLOWED"]
    assert (await world.client("wendy").ok(STOCKTAKE, {"id": stocktake}))["stocktake"]["scanned"] == 0
    # An employee cannot ask for an adjustment either.
    variance = closed["variances"][0]["id"]
    assert codes(await alice(ADJUST, {"st": stocktake, "ids": [variance], "reason": "x"})) == ["FORBIDDEN"]
    # A rejected adjustment changes nothing and frees its variances for another request.
    asked = {"st": stocktake, "ids": [variance], "reason": "gone"}
    request = ok((await wendy.ok(ADJUST, asked))["requestStocktakeAdjustment"])["request"]["id"]
    ok((await world.client("admin").ok(REJECT, {"id": request, "comment": "look again"}))["rejectItemRequest"])
    after = (await wendy.ok(STOCKTAKE, {"id": stocktake}))["stocktake"]
    assert after["status"] == "COUNTED" and after["variances"][0]["adjustedAt"] is None
    assert after["variances"][0]["asset"]["status"] == "IN_STOCK"
    request = ok((await wendy.ok(ADJUST, asked))["requestStocktakeAdjustment"])["request"]["id"]
    # The asset turns up and is issued before the approvers are done: writing it off now would be
    # wrong, so the last approval is refused and nothing of it is recorded.
    item = closed["variances"][0]["item"]["id"]
    dave = world.client("dave")
    need = {"item": item, "q": 1, "purpose": "on site"}
    requisition = ok((await dave.ok(REQUISITION, need))["requestRequisition"])["request"]["id"]
    ok((await world.client("admin").ok(APPROVE, {"id": requisition}))["approveItemRequest"])
    issued = {"id": requisition, "loc": here, "codes": [label]}
    ok((await wendy.ok(ISSUE, issued))["issueRequisition"])
    ok((await world.client("admin").ok(APPROVE, {"id": request}))["approveItemRequest"])
    late = (await world.client("amy").ok(APPROVE, {"id": request}))["approveItemRequest"]
    assert [e["code"] for e in late["errors"]] == ["CONFLICT"], late
    after = (await wendy.ok(STOCKTAKE, {"id": stocktake}))["stocktake"]
    assert after["variances"][0]["adjustedAt"] is None and after["variances"][0]["asset"]["status"] == "ISSUED"
    assert after["variances"][0]["request"]["status"] == "PENDING"


# --------------------------------------------------------------------------- both dialects


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def test_variances_and_the_stock_difference_source_on_both_databases(database: str) -> None:
    await run_on(database, _variances_and_proposals)


async def _variances_and_proposals() -> None:
    """One location and one elsewhere: a missing asset, one in the wrong place (an all-locations
    count), one unexpected (out of stock), a quantity short; then the finding source."""
    actor = Actor(1, 0, "王芳", PersonKind.EMPLOYEE, frozenset({Role.WAREHOUSE}), None)
    a = await StockLocation.create(name="A 区")
    b = await StockLocation.create(name="B 区")
    item = await Item.create(name="扫描枪", category=ItemCategory.OTHER, serialized=True)
    paper = await Item.create(name="Paper", category=ItemCategory.OFFICE_SUPPLIES)
    stay = await Asset.create(item_id=item.id, location_id=a.id)
    missing = await Asset.create(item_id=item.id, location_id=a.id)
    wrong = await Asset.create(item_id=item.id, location_id=b.id)
    out = await Asset.create(item_id=item.id, location_id=None, status=AssetStatus.ISSUED)
    await StockLevel.create(item_id=paper.id, location_id=b.id, quantity=12)
    stocktake = await stocktakes.open_stocktake(actor, None)
    for asset, where in ((stay, a), (wrong, a), (out, b)):
        await stocktakes._record_scan(stocktake, asset, where.id, actor.person_id, None)
    await stocktakes.record_count(actor, str(stocktake.id), str(paper.id), str(b.id), 10)
    period = Period(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
    assert [p for p in await proposals.propose(None, period, {"items"}) if p.source == "stock_difference"] == []  # type: ignore[arg-type]
    closed = await stocktakes.close_stocktake(actor, str(stocktake.id))
    found = {
        (v.kind.value, v.asset_id, v.location_id, v.recorded_location_id, v.expected, v.counted)
        for v in await stocktakes.variances(closed.id)
    }
    assert found == {
        ("MISSING", missing.id, a.id, a.id, 1, 0),
        ("WRONG_PLACE", wrong.id, a.id, b.id, 1, 1),
        ("UNEXPECTED", out.id, b.id, None, 0, 1),
        ("QUANTITY", None, b.id, b.id, 12, 10),
    }
    first = [p for p in await proposals.propose(None, period, {"items"}) if p.source == "stock_difference"]  # type: ignore[arg-type]
    assert len(first) == 4 and all(p.area == "items" for p in first)
    assert len({p.key for p in first}) == 4
    # Stable: the same facts, the same keys; an adjusted variance is no longer proposed.
    again = [p for p in await proposals.propose(None, period, {"items"}) if p.source == "stock_difference"]  # type: ignore[arg-type]
    assert [p.key for p in again] == [p.key for p in first]
    quantity = next(p for p in first if p.evidence["kind"] == "QUANTITY")
    assert "-2" in quantity.summary and quantity.subject_type == "item"
    await StocktakeVariance.filter(id=quantity.evidence["varianceId"]).update(adjusted_at=datetime.now(UTC))
    left = [p for p in await proposals.propose(None, period, {"items"}) if p.source == "stock_difference"]  # type: ignore[arg-type]
    assert [p.key for p in left] == [p.key for p in first if p is not quantity]
    # Outside the period: nothing.
    earlier = Period(period.start - timedelta(days=2), period.start)
    assert [p for p in await proposals.propose(None, earlier, {"items"}) if p.source == "stock_difference"] == []  # type: ignore[arg-type]
