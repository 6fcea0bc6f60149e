"""Reminders (pending visits, overdue loans), event-log filters and the stock in/out report."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from realtime.messages import LoanReminder, VisitReminder
from resolvers.core import db
from resolvers.core.models import Asset, AssetStatus, Item, ItemCategory, ItemMovement, Person, Visit, VisitStatus
from resolvers.core.settings import Settings
from resolvers.items import flows as item_flows
from resolvers.runtime import Runtime
from resolvers.visits.upkeep import remind_pending
from tests.harness import Demo, Gate, GraphQLClient, Phone, ServerProcess


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    await db.start(f"sqlite://{tmp_path / 'gh.sqlite3'}")
    try:
        yield Runtime.create(Settings.from_env({"GATEHOUSE_KEY_FILE": str(tmp_path / "k.key")}))
    finally:
        await db.close()


async def drain(sub: object) -> list[dict[str, object]]:
    out = []
    queue = sub.queue  # type: ignore[attr-defined]
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_host_is_reminded_once_of_a_pending_visit_starting_soon(rt: Runtime) -> None:
    host = await Person.create(display_name="Host", roles=["EMPLOYEE"])
    now = datetime.now(UTC)
    soon = await Visit.create(
        host_id=host.id,
        visitor_name="V",
        purpose="p",
        expected_start=now + timedelta(minutes=30),
        expected_end=now + timedelta(hours=2),
        status=VisitStatus.PENDING_APPROVAL,
    )
    await Visit.create(
        host_id=host.id,
        visitor_name="Later",
        purpose="p",
        expected_start=now + timedelta(hours=5),
        expected_end=now + timedelta(hours=6),
        status=VisitStatus.PENDING_APPROVAL,
    )
    await Visit.create(
        host_id=host.id,
        visitor_name="Approved",
        purpose="p",
        expected_start=now + timedelta(minutes=10),
        expected_end=now + timedelta(hours=1),
        status=VisitStatus.APPROVED,
    )
    async with rt.bus.subscribe(VisitReminder.CHANNEL) as sub:
        assert await remind_pending(rt) == 1
        assert await remind_pending(rt) == 0  # once per visit
        assert [VisitReminder.decode(m) for m in await drain(sub)] == [VisitReminder(host_id=host.id, visit_id=soon.id)]


async def test_a_borrower_is_reminded_daily_of_an_overdue_loan(rt: Runtime) -> None:
    borrower = await Person.create(display_name="Borrower", roles=["EMPLOYEE"])
    laptop = await Item.create(name="Laptop", category=ItemCategory.OTHER, serialized=True)
    late = await Asset.create(
        item_id=laptop.id,
        status=AssetStatus.LENT,
        holder_person_id=borrower.id,
        due_back=datetime.now(UTC) - timedelta(days=1),
    )
    await Asset.create(
        item_id=laptop.id,
        status=AssetStatus.LENT,
        holder_person_id=borrower.id,
        due_back=datetime.now(UTC) + timedelta(days=1),
    )
    async with rt.bus.subscribe(LoanReminder.CHANNEL) as sub:
        assert await item_flows.remind_overdue(rt) == 1
        assert await item_flows.remind_overdue(rt) == 0  # not again within a day
        [message] = [LoanReminder.decode(m) for m in await drain(sub)]
    assert (message.person_id, message.asset_id) == (borrower.id, late.id)
    reminders = await ItemMovement.filter(kind="OVERDUE_REMINDER").values("asset_id", "person_id")
    assert reminders == [{"asset_id": late.id, "person_id": borrower.id}]


EVENTS = """query($f: Int!, $method: EntryMethod, $decision: Decision, $since: DateTime, $until: DateTime,
  $department: ID) {
  gateEvents(first: $f, method: $method, decision: $decision, since: $since, until: $until,
             departmentId: $department) { edges { node { reason method decision person { displayName } } } }
}"""


async def test_event_log_filters_by_method_decision_time_and_department(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    admin = await api.login("admin", demo.passwords["admin"])
    alice = await api.login("alice", demo.passwords["alice"])
    phone = Phone()
    await phone.bind(alice)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        start = datetime.now(UTC) - timedelta(seconds=1)
        assert (await gate.scan(demo.gates["Lobby turnstile in"], phone.token()))["granted"] is True
        assert (await gate.scan(demo.gates["Finance door"], phone.token(step_offset=1), "IN"))["reason"] == "no_access"
        assert (await gate.scan(demo.gates["Lobby turnstile in"], "GH1:BROKEN"))["reason"] == "malformed"
    finally:
        await gate.close()
    people = (await admin.ok("{ departments { id name } }"))["departments"]
    engineering = next(d["id"] for d in people if d["name"] == "Engineering")

    async def reasons(**variables: object) -> list[str]:
        data = await admin.ok(EVENTS, {"f": 50, **variables})
        return [e["node"]["reason"] for e in data["gateEvents"]["edges"]]

    assert await reasons() == ["malformed", "no_access", "ok"]
    assert await reasons(decision="DENIED") == ["malformed", "no_access"]
    assert await reasons(method="MANUAL") == []
    assert await reasons(department=engineering) == ["no_access", "ok"]  # the malformed scan names nobody
    assert await reasons(since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []
    assert await reasons(since=start.isoformat(), until=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()) == [
        "malformed",
        "no_access",
        "ok",
    ]


async def test_stock_in_and_out_report(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    hr = await api.login("hr", demo.passwords["hr"])
    today = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(
            f"{server.http}/reports/stock-in.csv?from={today}&to={today}&by=day",
            headers={"Authorization": f"Bearer {hr.token}"},
        )
        assert r.status_code == 200, r.text
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows == [["bucket", "value"], [today, "43.0"]]  # the demo's opening stock: 40 reams, 3 laptops
        r = await client.get(
            f"{server.http}/reports/stock-out.svg?from={today}&to={today}",
            headers={"Authorization": f"Bearer {hr.token}"},
        )
        assert r.status_code == 200 and r.content.startswith(b"<svg")
        r = await client.get(
            f"{server.http}/reports/stock-out.pdf?from={today}&to={today}",
            headers={"Authorization": f"Bearer {hr.token}"},
        )
        assert r.status_code == 404


async def test_a_device_scrapped_as_an_asset_is_retired(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    users = {u: await api.login(u, demo.passwords[u]) for u in ("admin", "alice", "carol", "amy", "eve", "wendy")}
    gate_id = demo.gates["Maintenance door"]
    device = (
        await users["admin"].ok(
            'mutation($g: [ID!]!) { registerDevice(input: {name: "Old scanner", kind: QR_SCANNER, gateIds: $g}) '
            "{ device { id } deviceSecret errors { code } } }",
            {"g": [gate_id]},
        )
    )["registerDevice"]
    in_stock = await users["wendy"].ok("{ assets(first: 1, status: IN_STOCK) { edges { node { labelCode } } } }")
    label = in_stock["assets"]["edges"][0]["node"]["labelCode"]
    linked = await users["admin"].ok(
        "mutation($d: ID!, $l: String!) { linkDeviceAsset(id: $d, labelCode: $l) { device { id } errors { code } } }",
        {"d": device["device"]["id"], "l": label},
    )
    assert linked["linkDeviceAsset"]["errors"] == []
    scrap = await users["alice"].ok(
        'mutation($l: String!) { requestScrap(labelCode: $l, reason: "worn out") { request { id } errors { code } } }',
        {"l": label},
    )
    request_id = scrap["requestScrap"]["request"]["id"]
    for approver in ("carol", "amy", "eve"):
        decided = await users[approver].ok(
            'mutation($r: ID!) { approveItemRequest(id: $r, comment: "ok") { request { status } errors { code } } }',
            {"r": request_id},
        )
        assert decided["approveItemRequest"]["errors"] == []
    disposed = await users["wendy"].ok(
        'mutation($r: ID!, $l: String!) { disposeAsset(requestId: $r, labelCode: $l, method: "RECYCLING") '
        "{ request { status } errors { code } } }",
        {"r": request_id, "l": label},
    )
    assert disposed["disposeAsset"] == {"request": {"status": "FULFILLED"}, "errors": []}
    statuses = {d["id"]: d["status"] for d in (await users["admin"].ok("{ devices { id status } }"))["devices"]}
    assert statuses[device["device"]["id"]] == "RETIRED"
    retired = Gate(server, device["device"]["id"], device["deviceSecret"])
    with pytest.raises(websockets.ConnectionClosed) as closed:  # refused on connect from now on
        await retired.connect()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
