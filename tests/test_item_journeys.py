"""Issue 12, the items journeys: each one walked end to end on a real server, through GraphQL
over HTTP and the gate device's WebSocket, as the people of the demo site would.

Gate item checks (POLICY 2.4-2.5): the list is compared with every label; labels join the check
of the carrier whose pass was checked at that gate; an undeclared label leaves a held record and
an alert. Purchasing (4.2): what a new item is (labelled or counted) is decided with the purchase.
Scrapping (4.5): the asset's own department head decides first; a rejected or withdrawn request
gives the asset back. Traceability: every movement says who performed it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Gate, ServerProcess, Site
from tests.test_items import (
    ASSETS,
    ERRORS,
    ISSUE,
    ITEMS,
    LOCATIONS,
    PURCHASE,
    RECEIVE,
    REJECT,
    REQUEST,
    RESUBMIT,
    RETURN,
    SCRAP,
    Shop,
    actions,
    error_codes,
    gate_device,
    next_command,
    no_command,
    nodes,
    ref,
    scan_item,
    user_errors,
)

CHECK = "id person { id } gate { id } direction declared scanned problems status decidedBy { id }"
DECLARE = f"""
mutation($gate: ID!, $direction: String!, $items: [DeclaredItemInput!]!) {{
  declareItems(gateId: $gate, direction: $direction, items: $items) {{ check {{ {CHECK} }} {ERRORS} }}
}}"""
COMPLETE = f"mutation($id: ID!) {{ completeItemCheck(id: $id) {{ check {{ {CHECK} }} {ERRORS} }} }}"
DECIDE = f"""
mutation($id: ID!, $allow: Boolean!, $note: String) {{
  decideItemCheck(id: $id, allow: $allow, note: $note) {{ check {{ {CHECK} }} {ERRORS} }}
}}"""
CHECKS = f"{{ itemChecks(first: 100) {{ edges {{ node {{ {CHECK} }} }} pageInfo {{ hasNextPage }} }} }}"
ALERTS = "{ deviceAlerts(first: 50) { id kind message gateId } }"
WITHDRAW = f"mutation($id: ID!) {{ withdrawItemRequest(id: $id) {{ request {{ {REQUEST} }} {ERRORS} }} }}"
HISTORY = """
query($assetId: ID) {
  itemMovements(first: 100, assetId: $assetId) {
    edges { node { kind person { displayName } performedBy { id displayName } } }
    pageInfo { hasNextPage }
  }
}"""
PURCHASE_TYPED = f"""
mutation($name: String!, $quantity: Int!, $budget: Float!, $itemId: ID, $category: ItemCategory,
         $serialized: Boolean) {{
  requestPurchase(name: $name, quantity: $quantity, budget: $budget, itemId: $itemId, category: $category,
                  serialized: $serialized) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""


@pytest.fixture
async def shop(server: ServerProcess, sqlite_site: Site) -> Shop:
    """The demo shop (as tests/test_items.py sees it): items, the warehouse, the departments."""
    shop = Shop(sqlite_site, server)
    wendy = await shop.user("wendy")
    items = {i["name"]: i for i in nodes((await wendy.ok(ITEMS))["items"])}
    shop.paper, shop.laptop = items["A4 paper"]["id"], items["Laptop"]["id"]
    shop.location = nodes((await wendy.ok(LOCATIONS))["stockLocations"])[0]["id"]
    carol = await (await shop.user("carol")).ok("{ me { department { id } } }")
    fiona = await (await shop.user("fiona")).ok("{ me { department { id } } }")
    shop.eng, shop.fin = carol["me"]["department"]["id"], fiona["me"]["department"]["id"]
    return shop


# --------------------------------------------------------------------------- steps


async def issued_laptops(shop: Shop, who: str, count: int) -> list[str]:
    """`count` Engineering laptops issued to `who` (an Engineering person): their label codes."""
    codes = [a["labelCode"] for a in (await shop.in_stock_laptops())[:count]]
    rid = (await shop.requisition(who, shop.laptop, count))["id"]
    await shop.decide("carol", rid)
    wendy = await shop.user("wendy")
    issued = (await wendy.ok(ISSUE, {"id": rid, "location": shop.location, "codes": codes}))["issueRequisition"]
    assert issued["errors"] == [], issued
    return codes


async def declare(shop: Shop, who: str, gate_id: str, direction: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    payload = (await (await shop.user(who)).ok(DECLARE, {"gate": gate_id, "direction": direction, "items": items}))[
        "declareItems"
    ]
    assert payload["errors"] == [], payload
    check: dict[str, Any] = payload["check"]
    assert check["status"] == "OPEN"
    return check


async def show_pass(shop: Shop, gate: Gate, gate_id: str, who: str) -> dict[str, Any]:
    """`who` scans their pass at the gate: from now on they carry what is scanned there."""
    token = await (await shop.pass_of(who)).fresh()
    decision = await gate.scan(gate_id, token)
    assert decision["reason"] != "malformed", decision
    return decision


async def checks(shop: Shop) -> dict[str, dict[str, Any]]:
    """Every item check by id, as the guard sees them."""
    rows = nodes((await (await shop.user("guard")).ok(CHECKS))["itemChecks"])
    return {row["id"]: row for row in rows}


async def complete(shop: Shop, check_id: str) -> dict[str, Any]:
    payload = (await (await shop.user("guard")).ok(COMPLETE, {"id": check_id}))["completeItemCheck"]
    assert payload["errors"] == [], payload
    check: dict[str, Any] = payload["check"]
    return check


async def guard_decides(shop: Shop, check_id: str, allow: bool, note: str) -> dict[str, Any]:
    payload = (await (await shop.user("guard")).ok(DECIDE, {"id": check_id, "allow": allow, "note": note}))[
        "decideItemCheck"
    ]
    assert payload["errors"] == [], payload
    check: dict[str, Any] = payload["check"]
    return check


async def alerts(shop: Shop) -> dict[str, dict[str, Any]]:
    """The item alerts the guards have (passing without an entry alerts too: not counted here)."""
    rows = (await (await shop.user("guard")).ok(ALERTS))["deviceAlerts"]
    return {a["id"]: a for a in rows if a["kind"] == "item_check"}


def asset_id_of(shop_assets: list[dict[str, Any]], code: str) -> str:
    return next(a["id"] for a in shop_assets if a["labelCode"] == code)


async def all_laptops(shop: Shop) -> list[dict[str, Any]]:
    wendy = await shop.user("wendy")
    return nodes((await wendy.ok(ASSETS, {"itemId": shop.laptop}))["assets"])


# --------------------------------------------------------------------------- 3. entering checks the list


async def test_entering_compares_quantities_and_every_label_with_the_list(shop: Shop) -> None:
    inn = shop.gate("Lobby turnstile in")
    one, two = await issued_laptops(shop, "alice", 2)
    alice = await shop.pid("alice")
    async with gate_device(shop) as gate:
        # One laptop on the list (no label codes) and an umbrella; two laptop labels scanned.
        check = await declare(shop, "alice", inn, "IN", [{"description": "Laptop"}, {"description": "umbrella"}])
        await show_pass(shop, gate, inn, "alice")
        for n, code in enumerate((one, two)):
            reply = await scan_item(gate, inn, code, f"q-{n}")
            assert (reply["known"], reply["problem"], reply["checkId"]) == (True, None, check["id"])
        held = await complete(shop, check["id"])
        assert (held["status"], held["problems"]) == ("HELD", ["Laptop: declared 1, scanned 2"])
        await no_command(gate)
        assert await shop.movements(kind="GATE_IN") == []
        await guard_decides(shop, check["id"], False, "two laptops, one declared")

        # The list says two (however it spells them): cleared, both recorded as coming in with her.
        check = await declare(shop, "alice", inn, "IN", [{"description": " laptop ", "quantity": 2}])
        await show_pass(shop, gate, inn, "alice")
        for n, code in enumerate((two, one)):
            assert (await scan_item(gate, inn, code, f"r-{n}"))["problem"] is None
        cleared = await complete(shop, check["id"])
        assert (cleared["status"], cleared["problems"]) == ("CLEARED", [])
        assert (await next_command(gate))["command"] == "open"
        laptops = await all_laptops(shop)
        entered = await shop.movements(kind="GATE_IN")
        assert sorted((ref(m["asset"]), ref(m["person"])) for m in entered) == sorted(
            [(asset_id_of(laptops, one), alice), (asset_id_of(laptops, two), alice)]
        )

        # Three declared, two scanned: held too. And the same label twice is not two laptops.
        check = await declare(shop, "alice", inn, "IN", [{"description": "laptop", "quantity": 3}])
        await show_pass(shop, gate, inn, "alice")
        for n, code in enumerate((one, two)):
            await scan_item(gate, inn, code, f"s-{n}")
        assert (await complete(shop, check["id"]))["problems"] == ["Laptop: declared 3, scanned 2"]
        check = await declare(shop, "alice", inn, "IN", [{"description": "laptop", "quantity": 2}])
        for n in range(2):
            await scan_item(gate, inn, one, f"t-{n}")
        assert (await complete(shop, check["id"]))["problems"] == [
            f"scanned twice: {one}",
            "Laptop: declared 2, scanned 1",
        ]

    # A label is one asset: a line naming a code counts one.
    refused = (
        await (await shop.user("alice")).ok(
            DECLARE,
            {"gate": inn, "direction": "IN", "items": [{"description": "laptop", "labelCode": one, "quantity": 2}]},
        )
    )["declareItems"]
    assert (user_errors(refused), refused["check"]) == ([("INVALID", "items")], None)


async def test_an_in_stock_asset_brought_in_undeclared_is_held_and_never_walks_out(shop: Shop) -> None:
    inn, out = shop.gate("Lobby turnstile in"), shop.gate("Lobby turnstile out")
    shelf = (await shop.in_stock_laptops())[0]
    code = shelf["labelCode"]
    dave = await shop.pid("dave")
    async with gate_device(shop) as gate:
        # Dave's list says a toolbox; the gate reads the label of a laptop booked on the shelf inside.
        check = await declare(shop, "dave", inn, "IN", [{"description": "Toolbox"}])
        await show_pass(shop, gate, inn, "dave")
        reply = await scan_item(gate, inn, code, "d-1")
        assert (reply["known"], reply["name"], reply["problem"], reply["checkId"]) == (
            True,
            "Laptop",
            "not_yours",
            check["id"],
        )
        held = await complete(shop, check["id"])
        assert (held["status"], held["problems"]) == (
            "HELD",
            ["Laptop: not_yours", f"scanned but not declared: Laptop {code}"],
        )
        await no_command(gate)
        assert await shop.movements(kind="GATE_IN") == []

        # Even a guard who lets it in (the record then says it came in with Dave) gives Dave no
        # way to carry a laptop out that is booked in stock: it leaves only issued or lent.
        allowed = await guard_decides(shop, check["id"], True, "warehouse will look into it")
        assert allowed["status"] == "CLEARED"
        assert (await next_command(gate))["command"] == "open"
        assert [(ref(m["asset"]), ref(m["person"])) for m in await shop.movements(kind="GATE_IN")] == [
            (shelf["id"], dave)
        ]
        leaving = await declare(shop, "dave", out, "OUT", [{"description": "laptop", "labelCode": code}])
        await show_pass(shop, gate, out, "dave")
        reply = await scan_item(gate, out, code, "d-2")
        assert (reply["problem"], reply["checkId"]) == ("not_yours", leaving["id"])
        stopped = await complete(shop, leaving["id"])
        assert (stopped["status"], stopped["problems"]) == ("HELD", ["Laptop: not_yours"])
        await no_command(gate)
    assert await shop.movements(kind="GATE_OUT") == []


# --------------------------------------------------------------------------- 4. the carrier's check


async def test_labels_join_the_check_of_the_carrier_whose_pass_was_scanned(shop: Shop) -> None:
    out = shop.gate("Lobby turnstile out")
    [code] = await issued_laptops(shop, "alice", 1)
    async with gate_device(shop) as gate:
        alices = await declare(shop, "alice", out, "OUT", [{"description": "laptop", "labelCode": code}])
        carols = await declare(shop, "carol", out, "OUT", [{"description": "umbrella"}])
        assert int(carols["id"]) > int(alices["id"])  # the newest check at the gate is Carol's

        # Her pass, and her label sent right behind it (before the pass's decision came back).
        token = await (await shop.pass_of("alice")).fresh()
        await gate.send({"type": "scan", "ref": "p-alice", "gateId": out, "credential": token})
        reply = await scan_item(gate, out, code, "a-1")
        assert (reply["problem"], reply["checkId"]) == (None, alices["id"])
        decision = next((f for f in gate.pending if f.get("ref") == "p-alice"), None)
        assert (decision or await gate.recv_type("decision"))["granted"] is True
        now = await checks(shop)
        assert [e["labelCode"] for e in now[alices["id"]]["scanned"]] == [code]
        assert now[carols["id"]]["scanned"] == []
        cleared = await complete(shop, alices["id"])
        assert (cleared["status"], cleared["problems"]) == ("CLEARED", [])
        assert (await next_command(gate))["command"] == "open"

        # Carol's turn: her umbrella carries no label, nothing of Alice's is in her check.
        await show_pass(shop, gate, out, "carol")
        hers = await complete(shop, carols["id"])
        assert (hers["status"], hers["scanned"], hers["problems"]) == ("CLEARED", [], [])
        assert (await next_command(gate))["command"] == "open"

    # With no pass scanned at a gate and two open checks there, a label joins neither: it is held
    # on its own, its carrier unknown.
    door = shop.gate("Engineering door")
    [other] = [a["labelCode"] for a in await shop.in_stock_laptops()][:1]
    async with gate_device(shop) as gate:
        first = await declare(shop, "alice", door, "OUT", [{"description": "laptop", "labelCode": other}])
        second = await declare(shop, "bob", door, "OUT", [{"description": "notebook"}])
        reply = await scan_item(gate, door, other, "u-1")
        assert (reply["known"], reply["problem"]) == (True, "no_declaration")
        assert reply["checkId"] not in (first["id"], second["id"])
        now = await checks(shop)
        assert (now[first["id"]]["scanned"], now[second["id"]]["scanned"]) == ([], [])
        record = now[reply["checkId"]]
        assert (record["status"], record["person"], ref(record["gate"]), record["declared"]) == (
            "HELD",
            None,
            door,
            [],
        )
        assert record["problems"] == ["Laptop: carrier_unknown", "Laptop: not_yours"]


# --------------------------------------------------------------------------- 5. undeclared at the exit


async def test_an_undeclared_asset_at_the_exit_is_held_alerted_and_decided_by_the_guard(shop: Shop) -> None:
    out = shop.gate("Lobby turnstile out")
    [mine] = await issued_laptops(shop, "alice", 1)
    shelf = (await shop.in_stock_laptops())[0]["labelCode"]
    alice = await shop.pid("alice")
    before = await alerts(shop)
    async with gate_device(shop) as gate:
        # Nothing declared: Alice shows her pass, the gate reads a laptop label from the shelf.
        await show_pass(shop, gate, out, "alice")
        reply = await scan_item(gate, out, shelf, "x-1")
        assert (reply["known"], reply["name"], reply["problem"]) == (True, "Laptop", "no_declaration")
        record = (await checks(shop))[reply["checkId"]]
        assert (record["status"], ref(record["person"]), ref(record["gate"]), record["direction"]) == (
            "HELD",
            alice,
            out,
            "OUT",
        )
        assert (record["declared"], [e["labelCode"] for e in record["scanned"]]) == ([], [shelf])
        assert record["problems"] == ["Laptop: no_declaration", "Laptop: not_yours"]
        raised = [a for i, a in (await alerts(shop)).items() if i not in before]
        assert [(a["kind"], a["gateId"]) for a in raised] == [("item_check", out)]
        assert "undeclared" in raised[0]["message"] and "no_declaration" in raised[0]["message"]

        # A second label right after joins the same record: one record, one alert.
        again = await scan_item(gate, out, mine, "x-2")
        assert again["checkId"] == reply["checkId"]
        record = (await checks(shop))[reply["checkId"]]
        assert [e["labelCode"] for e in record["scanned"]] == [shelf, mine]
        assert len([i for i in await alerts(shop) if i not in before]) == 1
        await no_command(gate)

        refused = await guard_decides(shop, reply["checkId"], False, "not declared, laptop back to the warehouse")
        assert (refused["status"], ref(refused["decidedBy"])) == ("REFUSED", await shop.pid("guard"))
        await no_command(gate, 0.5)
        assert await shop.movements(kind="GATE_OUT") == []

        # Her own laptop, undeclared: held all the same, and the guard may let it through, recorded.
        await show_pass(shop, gate, out, "alice")
        own = await scan_item(gate, out, mine, "x-3")
        assert own["problem"] == "no_declaration" and own["checkId"] != reply["checkId"]
        assert (await checks(shop))[own["checkId"]]["problems"] == ["Laptop: no_declaration"]
        let_through = await guard_decides(shop, own["checkId"], True, "her issued laptop")
        assert let_through["status"] == "CLEARED"
        assert (await next_command(gate))["command"] == "open"
        # A label after the guard's decision joins nothing decided: a new record, held.
        late = await scan_item(gate, out, mine, "x-4")
        assert late["checkId"] not in (own["checkId"], reply["checkId"])
        assert (await checks(shop))[late["checkId"]]["status"] == "HELD"
        assert [e["labelCode"] for e in (await checks(shop))[own["checkId"]]["scanned"]] == [mine]
    laptops = await all_laptops(shop)
    assert [(ref(m["asset"]), ref(m["person"])) for m in await shop.movements(kind="GATE_OUT")] == [
        (asset_id_of(laptops, mine), alice)
    ]


# --------------------------------------------------------------------------- 8. the purchase decides the type


async def test_what_a_new_item_is_is_decided_by_the_purchase_not_its_first_delivery(shop: Shop) -> None:
    wendy = await shop.user("wendy")
    receipt = {"quantity": 2, "locationId": shop.location, "deliveryNote": "DN-1", "specOk": True, "qualityOk": True}

    async def approved(variables: dict[str, Any], query: str = PURCHASE_TYPED) -> str:
        rid: str = (await shop.submit("alice", query, variables, "requestPurchase"))["id"]
        await shop.decide("carol", rid)
        assert (await shop.decide("paul", rid))["status"] == "APPROVED"
        return rid

    async def receive(rid: str, **changes: Any) -> dict[str, Any]:
        payload: dict[str, Any] = (await wendy.ok(RECEIVE, {"id": rid, "receipt": {**receipt, **changes}}))[
            "receivePurchase"
        ]
        assert payload["errors"] == [], payload
        return payload

    async def catalogue(name: str) -> list[dict[str, Any]]:
        return [i for i in nodes((await wendy.ok(ITEMS))["items"]) if i["name"] == name]

    # A purchase that does not say (as older apps send it): a refused first delivery decides
    # nothing; the first accepted one says what the new item is.
    old = await approved({"name": "Multimeter", "spec": "CAT III", "quantity": 2, "budget": 90.0}, PURCHASE)
    failed = await receive(old, specOk=False)
    assert (failed["request"]["item"], await catalogue("Multimeter")) == (None, [])
    good = await receive(old, serialized=True, category="MAINTENANCE_PARTS")
    assert len(good["labelCodes"]) == 2
    [meter] = await catalogue("Multimeter")
    assert (meter["category"], meter["serialized"], meter["inStock"]) == ("MAINTENANCE_PARTS", True, 2)
    assets = nodes((await wendy.ok(ASSETS, {"itemId": meter["id"]}))["assets"])
    assert sorted(a["labelCode"] for a in assets) == sorted(good["labelCodes"])

    # A purchase that says labelled maintenance parts: the first delivery fails its spec check.
    rid = await approved(
        {"name": "Torque wrench", "quantity": 2, "budget": 500.0, "category": "MAINTENANCE_PARTS", "serialized": True}
    )
    assert (await shop.request(rid))["details"]["serialized"] is True
    failed = await receive(rid, specOk=False)
    assert (failed["request"]["item"], failed["labelCodes"]) == (None, [])
    assert await catalogue("Torque wrench") == []
    # The good delivery (whose receipt says nothing of labels) is labelled, as the purchase said.
    good = await receive(rid, deliveryNote="DN-2")
    assert len(good["labelCodes"]) == 2 and good["request"]["status"] == "FULFILLED"
    [wrench] = await catalogue("Torque wrench")
    assert (wrench["category"], wrench["serialized"], wrench["inStock"]) == ("MAINTENANCE_PARTS", True, 2)

    # Counted stock said by the purchase stays counted whatever a receipt claims.
    rid = await approved({"name": "Cable ties", "quantity": 2, "budget": 5.0, "serialized": False})
    ties = await receive(rid, serialized=True)
    assert ties["labelCodes"] == []
    [tie] = await catalogue("Cable ties")
    assert (tie["category"], tie["serialized"], tie["inStock"]) == ("OTHER", False, 2)

    # More of a catalogue item is what that item is already.
    alice = await shop.user("alice")
    more = {"name": "A4 paper", "quantity": 1, "budget": 5.0, "itemId": shop.paper}
    wrong = (await alice.ok(PURCHASE_TYPED, {**more, "serialized": True}))["requestPurchase"]
    assert (user_errors(wrong), wrong["request"]) == ([("INVALID", "serialized")], None)
    wrong = (await alice.ok(PURCHASE_TYPED, {**more, "category": "OTHER"}))["requestPurchase"]
    assert user_errors(wrong) == [("INVALID", "category")]
    assert (await alice.ok(PURCHASE_TYPED, {**more, "serialized": False}))["requestPurchase"]["errors"] == []


# --------------------------------------------------------------------------- 9. scrapping


async def test_scrapping_goes_to_the_assets_head_and_a_rejected_or_withdrawn_request_gives_it_back(
    shop: Shop,
) -> None:
    victim = (await shop.in_stock_laptops())[0]
    code = victim["labelCode"]
    bob, alice = await shop.user("bob"), await shop.user("alice")

    # Bob (Finance) reports an Engineering laptop: Engineering's head decides first, not his own.
    request = await shop.submit("bob", SCRAP, {"code": code, "reason": "fan noise"}, "requestScrap")
    rid = request["id"]
    assert request["steps"][0] == {"who": "head", "departmentId": int(shop.eng), "status": "PENDING"}
    assert (await shop.asset(victim["id"]))["status"] == "SCRAP_PENDING"
    assert error_codes(await shop.approve_raw("fiona", rid)) == ["FORBIDDEN"]

    # Carol rejects it: the laptop is back in stock, to be lent, issued or reported again.
    rejected = (await (await shop.user("carol")).ok(REJECT, {"id": rid, "comment": "it works fine"}))[
        "rejectItemRequest"
    ]
    assert rejected["request"]["status"] == "REJECTED"
    assert (await shop.asset(victim["id"]))["status"] == "IN_STOCK"
    assert await shop.stock(shop.laptop) == 3

    # Resubmitted, it is taken out of stock again; withdrawn, it comes back for good.
    resubmitted = (await bob.ok(RESUBMIT, {"id": rid}))["resubmitItemRequest"]
    assert (resubmitted["errors"], resubmitted["request"]["status"]) == ([], "PENDING")
    assert (await shop.asset(victim["id"]))["status"] == "SCRAP_PENDING"
    assert error_codes(await alice(WITHDRAW, {"id": rid})) == ["FORBIDDEN"]
    withdrawn = (await bob.ok(WITHDRAW, {"id": rid}))["withdrawItemRequest"]
    assert (withdrawn["errors"], withdrawn["request"]["status"]) == ([], "CANCELLED")
    assert actions(withdrawn["request"])[-2:] == ["resubmitted", "withdrawn"]
    assert (await shop.asset(victim["id"]))["status"] == "IN_STOCK"
    assert user_errors((await bob.ok(WITHDRAW, {"id": rid}))["withdrawItemRequest"]) == [("NOT_ALLOWED", None)]
    assert user_errors((await bob.ok(RESUBMIT, {"id": rid}))["resubmitItemRequest"]) == [("NOT_ALLOWED", None)]
    assert user_errors(
        (await (await shop.user("carol")).ok(REJECT, {"id": rid, "comment": "x"}))["rejectItemRequest"]
    ) == [("NOT_ALLOWED", None)]

    # Rejected at a later step (the appraisal) it comes back too; once the laptop has been issued
    # since, the old request cannot take it again.
    again = (await shop.submit("alice", SCRAP, {"code": code, "reason": "battery"}, "requestScrap"))["id"]
    await shop.decide("carol", again)
    amy = await shop.user("amy")
    assert (await amy.ok(REJECT, {"id": again, "comment": "worth repairing"}))["rejectItemRequest"]["errors"] == []
    assert (await shop.asset(victim["id"]))["status"] == "IN_STOCK"
    wanted = (await shop.requisition("alice", shop.laptop, 1))["id"]
    await shop.decide("carol", wanted)
    wendy = await shop.user("wendy")
    issued = (await wendy.ok(ISSUE, {"id": wanted, "location": shop.location, "codes": [code]}))["issueRequisition"]
    assert issued["errors"] == []
    late = (await alice.ok(RESUBMIT, {"id": again}))["resubmitItemRequest"]
    assert user_errors(late) == [("NOT_ALLOWED", None)]
    assert (await shop.request(again))["status"] == "REJECTED"
    assert (await shop.asset(victim["id"]))["status"] == "ISSUED"
    # Withdrawing the rejected request now touches nobody's laptop.
    assert (await alice.ok(WITHDRAW, {"id": again}))["withdrawItemRequest"]["request"]["status"] == "CANCELLED"
    assert (await shop.asset(victim["id"]))["status"] == "ISSUED"


# --------------------------------------------------------------------------- 10. who moved it


async def test_every_movement_in_an_assets_history_says_who_performed_it(shop: Shop) -> None:
    out = shop.gate("Lobby turnstile out")
    lent = await shop.lent_laptop("bob")
    async with gate_device(shop) as gate:
        check = await declare(shop, "bob", out, "OUT", [{"description": "laptop", "labelCode": lent["labelCode"]}])
        await show_pass(shop, gate, out, "bob")
        assert (await scan_item(gate, out, lent["labelCode"], "b-1"))["problem"] is None
        assert (await complete(shop, check["id"]))["status"] == "CLEARED"
    back = {"code": lent["labelCode"], "condition": "FINE", "location": shop.location}
    returned = await (await shop.user("admin")).ok(RETURN, back)
    assert returned["returnLentItem"]["errors"] == [], returned
    history = (await (await shop.user("audrey")).ok(HISTORY, {"assetId": lent["id"]}))["itemMovements"]
    rows = [(n["kind"], (n["person"] or {}).get("displayName"), n["performedBy"]) for n in reversed(nodes(history))]
    wendy, guard, admin = await shop.pid("wendy"), await shop.pid("guard"), await shop.pid("admin")
    assert rows == [
        ("RECEIVE", None, None),  # the demo's opening stock: nobody signed for it
        ("LEND", "Bob Wang", {"id": wendy, "displayName": "Wendy Sun"}),
        ("GATE_OUT", "Bob Wang", {"id": guard, "displayName": "Gao Guard"}),
        ("RETURN", None, {"id": admin, "displayName": "Ada Admin"}),
    ]
