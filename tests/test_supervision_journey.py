"""Issue 18's own test: a whole inspection through the public API of one real server (the demo
site), with the facts made to happen by the real paths and the findings proposed by the real
sources (no fed facts).

- A grant of 張偉 (研发部) into the management area (no department of its own: the holder's
  answers) is given with `grantAccess`; the servers' clock moves past its review date.
- The demo gate device reports the Engineering door forced, on the device WebSocket.
- 苏菲 (SUPERVISOR) counts the main warehouse: two of the three Engineering laptops scanned, the
  paper counted; `closeStocktake` leaves one MISSING laptop.

苏菲 then starts a spot check over the last week on Engineering and 研发部; `proposeFindings` has
the three facts (with their sources, keys and departments) among what the demo data gives; she
confirms them and dismisses the rest. Two notices: 研发部's (the grant), answered by its head 李娜
with a file and verified; Engineering's (door, stock), left past its deadline, escalated by the
leading worker's upkeep and shown to the executive. The report PDF names everyone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.harness import SiteTemplate, World, eventually, http_client
from tests.test_supervision import (
    ANSWER,
    CONFIRM,
    DISMISS,
    EXEC_VIEW,
    ISSUE,
    MINE,
    REPORT,
    SET_HEAD,
    VERIFY,
    pdf_text,
)

RND, ENG = "研发部", "Engineering"
GRANT = "mutation($i: GrantAccessInput!) { grantAccess(input: $i) { grant { id } errors { code message } } }"
EVENTS = "query($g: ID!) { gateEvents(first: 20, gateId: $g) { edges { node { id reason } } } }"
LOCATIONS = "{ stockLocations(first: 50) { edges { node { id name } } } }"
ITEMS = "{ items(first: 100) { edges { node { id name } } } }"
ASSETS = """query($i: ID!) {
  assets(first: 50, itemId: $i, status: IN_STOCK) { edges { node { id labelCode } } } }"""
OPEN = "mutation($l: ID) { openStocktake(locationId: $l) { stocktake { id } errors { code message } } }"
SCAN = """mutation($s: ID!, $t: String!, $l: ID!) {
  recordStocktakeScan(stocktakeId: $s, label: $t, locationId: $l) { counted errors { code message } } }"""
COUNT = """mutation($s: ID!, $i: ID!, $l: ID!, $q: Int!) {
  recordStocktakeCount(stocktakeId: $s, itemId: $i, locationId: $l, quantity: $q) {
    stocktake { id } errors { code message } } }"""
CLOSE = """mutation($id: ID!) {
  closeStocktake(id: $id) {
    stocktake { status variances { id kind asset { id } } } errors { code message } } }"""
SPOT = """mutation($i: SpotInspectionInput!) {
  startSpotInspection(input: $i) { inspection { id status } errors { code field message } } }"""
PROPOSE = """mutation($id: ID!) {
  proposeFindings(inspectionId: $id) {
    findings { id source key summary subjectType subjectId department { name } } errors { code } } }"""


@pytest.fixture(scope="module")
def world(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("supervision-journey"))
    # The upkeep every second: the escalation is waited for, not slept for.
    site.start_server(GATEHOUSE_UPKEEP_SECONDS="1")
    try:
        yield World(site)
    finally:
        site.let_go()


def by_name(data: dict[str, Any], field: str) -> dict[str, str]:
    return {e["node"]["name"]: e["node"]["id"] for e in data[field]["edges"]}


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["errors"] == [], payload
    return payload


async def test_a_spot_inspection_of_real_facts_from_proposal_to_escalation_and_report(world: World) -> None:
    sophie, lina, eve = world.client("sophie"), world.client("lina"), world.client("eve")
    people, departments = world.ids.people, world.ids.departments
    clock = world.server.clock
    ok((await world.client("hr").ok(SET_HEAD, {"d": departments[RND], "h": people["lina"]}))["setDepartmentHead"])

    # 1. A grant whose review date passes: given now (due in 90 days), then 91 days go by.
    grant_input = {"zoneId": world.ids.zones["Management area"], "personId": people["zhangwei"]}
    grant = ok((await world.client("admin").ok(GRANT, {"i": grant_input}))["grantAccess"])["grant"]["id"]
    clock.advance(91 * 86400)

    # 2. The Engineering door forced, as the gate device reports it.
    door = world.gate("Engineering door")
    device = await world.connect_device()
    try:
        await device.send({"type": "door", "gateId": door, "state": "forced"})
        forced: list[str] = []

        async def stored() -> bool:
            edges = (await sophie.ok(EVENTS, {"g": door}))["gateEvents"]["edges"]
            forced[:] = [e["node"]["id"] for e in edges if e["node"]["reason"] == "forced"]
            return bool(forced)

        await eventually(stored, 10, "the forced door's gate event")
    finally:
        await world.close()

    # 3. A stocktake of the main warehouse: one of the three Engineering laptops is not found.
    warehouse = by_name(await sophie.ok(LOCATIONS), "stockLocations")["Main warehouse"]
    items = by_name(await sophie.ok(ITEMS), "items")
    laptops = (await sophie.ok(ASSETS, {"i": items["Laptop"]}))["assets"]["edges"]
    assert len(laptops) == 3, laptops
    stocktake = ok((await sophie.ok(OPEN, {"l": warehouse}))["openStocktake"])["stocktake"]["id"]
    for edge in laptops[:2]:
        scanned = {"s": stocktake, "t": edge["node"]["labelCode"], "l": warehouse}
        assert ok((await sophie.ok(SCAN, scanned))["recordStocktakeScan"])["counted"] is True
    counted = {"s": stocktake, "i": items["A4 paper"], "l": warehouse, "q": 40}
    ok((await sophie.ok(COUNT, counted))["recordStocktakeCount"])
    closed = ok((await sophie.ok(CLOSE, {"id": stocktake}))["closeStocktake"])["stocktake"]
    missing_laptop = laptops[2]["node"]["id"]
    assert closed["status"] == "COUNTED"
    ((variance, kind, asset),) = [(v["id"], v["kind"], v["asset"]["id"]) for v in closed["variances"]]
    assert (kind, asset) == ("MISSING", missing_laptop)

    # The inspection: a spot check of the last week, on Engineering and 研发部.
    spot = {
        "title": "突击检查 Engineering & 研发部",
        "areas": ["entry", "devices", "items"],
        "sample": "doors, grants and stock of two departments",
        "sampleDepartmentIds": [departments[ENG], departments[RND]],
        "days": 7,
    }
    inspection = ok((await sophie.ok(SPOT, {"i": spot}))["startSpotInspection"])["inspection"]["id"]
    proposed = ok((await sophie.ok(PROPOSE, {"id": inspection}))["proposeFindings"])["findings"]
    listed = json.dumps(proposed, ensure_ascii=False, indent=1)
    wanted = {
        "door_forced": (f"door_forced:forced:{door}:", "gate", door, ENG),
        "grant_review_overdue": (f"grant_review_overdue:{grant}:", "grant", grant, RND),
        "stock_difference": (f"stock_difference:stocktake_variance:{variance}", "asset", missing_laptop, ENG),
    }
    found: dict[str, dict[str, Any]] = {}
    for source, (key, subject_type, subject_id, department) in wanted.items():
        matches = [
            f
            for f in proposed
            if f["source"] == source
            and f["key"].startswith(key)
            and (f["subjectType"], f["subjectId"]) == (subject_type, subject_id)
            and (f["department"] or {}).get("name") == department
        ]
        assert len(matches) == 1, f"{source}: {key} ({department}) is not proposed once among:\n{listed}"
        found[source] = matches[0]
    assert "張偉" in found["grant_review_overdue"]["summary"], listed
    assert "Engineering door" in found["door_forced"]["summary"], listed
    for finding in found.values():
        assert (await sophie.ok(CONFIRM, {"id": finding["id"]}))["confirmFinding"]["finding"]["status"] == "CONFIRMED"
    mine = {f["id"] for f in found.values()}
    for other in proposed:
        if other["id"] not in mine:
            dismissed = await sophie.ok(DISMISS, {"id": other["id"], "r": "the demo's own, not this check's"})
            assert dismissed["dismissFinding"]["finding"]["status"] == "DISMISSED"

    # Two notices: 研发部 answers and is verified; Engineering lets its deadline pass.
    now = clock.now()
    to_rnd = {
        "findingIds": [found["grant_review_overdue"]["id"]],
        "departmentId": departments[RND],
        "requirement": "复核張偉的管理区权限 (review the grant)",
        "deadline": (now + timedelta(days=7)).isoformat(),
    }
    to_eng = {
        "findingIds": [found["door_forced"]["id"], found["stock_difference"]["id"]],
        "departmentId": departments[ENG],
        "requirement": "Repair the Engineering door's closer; find the missing laptop",
        "deadline": (now + timedelta(days=1)).isoformat(),
    }
    rnd_notice = ok((await sophie.ok(ISSUE, {"i": to_rnd}))["issueRectificationNotice"])["notice"]["id"]
    eng_notice = ok((await sophie.ok(ISSUE, {"i": to_eng}))["issueRectificationNotice"])["notice"]["id"]
    assert [n["id"] for n in (await lina.ok(MINE))["myRectificationNotices"]] == [rnd_notice]
    evidence = "权限复核记录：張偉 的管理区权限已复核，Zoë Ångström 核对".encode()
    files = [
        {"name": "复核记录.txt", "contentType": "text/plain", "contentBase64": base64.b64encode(evidence).decode()}
    ]
    answer = {"id": rnd_notice, "t": "已复核張偉的权限 (reviewed with Zoë Ångström)", "f": files}
    answered = ok((await lina.ok(ANSWER, answer))["answerRectificationNotice"])["notice"]
    assert (answered["status"], answered["answeredBy"]["displayName"]) == ("ANSWERED", "李娜")
    assert (await sophie.ok(VERIFY, {"id": rnd_notice}))["verifyRectificationNotice"]["notice"]["status"] == "VERIFIED"

    clock.advance(2 * 86400)
    view: dict[str, Any] = {}

    async def escalated() -> bool:
        view.update((await eve.ok(EXEC_VIEW))["executiveSupervisionView"])
        return [n["id"] for n in view["escalated"]] == [eng_notice]

    await eventually(escalated, 20, "Engineering's overdue notice escalated by the upkeep")
    assert view["escalated"][0]["overdue"] is True
    assert sorted(view["departments"], key=lambda d: d["department"]["name"]) == [
        {"department": {"name": ENG}, "open": 1, "overdue": 1, "escalated": 1, "verified": 0},
        {"department": {"name": RND}, "open": 0, "overdue": 0, "escalated": 0, "verified": 1},
    ]

    # The report, downloaded by the executive through its route: every name drawn.
    reported = ok((await sophie.ok(REPORT, {"id": inspection}))["reportInspection"])["inspection"]
    assert reported["status"] == "REPORTED"
    async with http_client(timeout=60) as client:
        pdf = await client.get(
            world.server.http + reported["reportPath"],
            headers={"Authorization": f"Bearer {world.demo.tokens['eve']}"},
        )
    assert pdf.status_code == 200, pdf.text
    text = pdf_text(pdf.content)
    for name in (
        "苏菲",
        "李娜",
        "張偉",
        "Zoë Ångström",
        RND,
        ENG,
        "Engineering door",
        "Management area",
        "Main warehouse",
        "复核记录.txt",
        "ESCALATED",
    ):
        assert name in text, f"{name!r} is not in the report:\n{text}"
    reported_ids = [i["id"] for i in (await eve.ok(EXEC_VIEW))["executiveSupervisionView"]["reportedInspections"]]
    assert reported_ids == [inspection]
