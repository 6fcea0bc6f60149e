"""Issue 12 "Every journey ends right", the gate journeys, walked through the public interfaces
(GraphQL over HTTP, the device WebSocket, the guards' `gateEvents` subscription) against a real
server:

1. someone whose access ends while on site can still be recorded leaving (contracts/README.md,
   `exit_after_revocation`), by their pass or by a guard's manual entry, and guards are told;
2. the evacuation roll call keeps people whose access ended while inside, marked apart, until they
   leave or a guard confirms they left (`confirmLeft`);
3. a gate device opens doors only while in service (`device_not_in_service`), on every server
   process as soon as its status changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from gatehouse_gate import passtoken

from tests.harness import (
    FreshPass,
    Gate,
    GraphQLClient,
    GuardFeed,
    OfflineGate,
    ServerProcess,
    Site,
    commission_device,
    connected,
)
from tests.test_scan_e2e import demo_id_number
from tests.test_visits import OPERATIONS, SiteView, checked_in, ok

PERIOD = passtoken.DEFAULT_PERIOD

OFFBOARD = "mutation($id: ID!) { offboardEmployee(id: $id) { employee { id status } errors { code } } }"
MANUAL_ENTRY = """
mutation($input: ManualEntryInput!) {
  recordManualEntry(input: $input) {
    event { id method decision reason direction person { displayName } }
    errors { code message field }
  }
}
"""
MUSTER = """
query($z: ID) {
  muster(zoneId: $z) { person { id displayName } zones { name } status accessEndedAt note }
}
"""
CONFIRM_LEFT = """
mutation($input: ConfirmLeftInput!) {
  confirmLeft(input: $input) {
    event { id method decision reason direction gate { name } person { displayName } }
    errors { code message field }
  }
}
"""
ALERTS = "query($k: String) { alerts(first: 50, kind: $k) { edges { node { kind message gate { name } } } } }"
AUDIT = """
query($t: String) {
  auditLog(first: 50, targetType: "person", targetId: $t) { edges { node { actorName action } } }
}
"""
EVENTS = """
query($p: ID) {
  gateEvents(first: 50, personId: $p) { edges { node { reason decision method direction gate { name } } } }
}
"""
GATE_EVENTS = """
query($g: ID) {
  gateEvents(first: 50, gateId: $g) { edges { node { reason decision person { displayName } } } }
}
"""
REGISTER = """
mutation($name: String!, $g: [ID!]!) {
  registerDevice(input: {name: $name, kind: QR_SCANNER, gateIds: $g}) { device { id status } deviceSecret }
}
"""
SET_STATUS = """
mutation($id: ID!, $s: DeviceStatus!) { setDeviceStatus(id: $id, status: $s) { device { status } errors { code } } }
"""
DEVICES = "{ devices { id status } }"
REMOTE_OPEN = 'mutation($g: ID!) { remoteOpen(gateId: $g, reason: "test") { event { reason } errors { code } } }'


@pytest.fixture
def site(server: ServerProcess, sqlite_site: Site) -> SiteView:
    return SiteView(sqlite_site, server, OPERATIONS)


async def scan(site: SiteView, pass_: FreshPass, gate: str, direction: str | None = None) -> tuple[bool, str]:
    reply = await site.device.scan(site.gate(gate), await pass_.fresh(), direction)
    assert reply["type"] == "decision", reply
    assert ("open" in reply) is reply["granted"], reply
    return reply["granted"], reply["reason"]


def skip_steps(site: SiteView, steps: int) -> None:
    """Moves the server's clock (and so the phones', which read it) on by whole pass steps."""
    assert site.server.clock is not None
    site.server.clock.advance(steps * PERIOD)


async def muster(site: SiteView, zone: str | None = None) -> dict[str, dict[str, Any]]:
    """displayName → (zones, status, note?) of the roll call, as a guard reads it."""
    lines = (await site.client("guard").ok(MUSTER, {"z": site.zones[zone] if zone else None}))["muster"]
    return {
        line["person"]["displayName"]: {
            "zones": sorted(z["name"] for z in line["zones"]),
            "status": line["status"],
            "note": line["note"],
            "ended": line["accessEndedAt"] is not None,
        }
        for line in lines
    }


def inside(*zones: str) -> dict[str, Any]:
    return {"zones": sorted(zones), "status": "INSIDE", "note": None, "ended": False}


async def alerts(site: SiteView, kind: str) -> list[dict[str, Any]]:
    edges = (await site.client("guard").ok(ALERTS, {"k": kind}))["alerts"]["edges"]
    return [e["node"] for e in edges]


# --------------------------------------------------------------------------- 1. leaving after revocation


async def test_an_employee_offboarded_on_site_is_let_out_once_and_guards_are_told(site: SiteView) -> None:
    bob = await site.pass_of("bob")
    await site.connect_device()
    assert await scan(site, bob, "Lobby turnstile in") == (True, "ok")

    async with GuardFeed(site.server, site.tokens["guard"]) as feed:
        await feed.ready(site.device, site.gate("Lobby turnstile in"))
        offboarded = (await site.client("hr").ok(OFFBOARD, {"id": site.people["bob"]}))["offboardEmployee"]
        assert offboarded == {"employee": {"id": site.people["bob"], "status": "OFFBOARDED"}, "errors": []}

        # In: refused at once. Out: let go (he is inside), the door opens, guards see why.
        assert await scan(site, bob, "Lobby turnstile in") == (False, "revoked")
        assert await scan(site, bob, "Lobby turnstile out") == (True, "exit_after_revocation")
        seen = await feed.next(lambda e: e["reason"] == "exit_after_revocation")
        assert (seen["decision"], seen["direction"], seen["person"]["displayName"]) == ("GRANTED", "OUT", "Bob Wang")
    # Once out, the pass is dead everywhere: leaving again has nothing to leave.
    skip_steps(site, 3)  # a fourth token without waiting for the next step
    assert await scan(site, bob, "Lobby turnstile out") == (False, "revoked")

    assert "Bob Wang" not in await muster(site)
    flagged = await alerts(site, "exit_after_revocation")
    assert [(a["gate"]["name"], "Bob Wang" in a["message"]) for a in flagged] == [("Lobby turnstile out", True)]
    events = (await site.client("guard").ok(EVENTS, {"p": site.people["bob"]}))["gateEvents"]["edges"]
    assert [(e["node"]["reason"], e["node"]["decision"]) for e in reversed(events)] == [
        ("ok", "GRANTED"),
        ("revoked", "DENIED"),
        ("exit_after_revocation", "GRANTED"),
        ("revoked", "DENIED"),
    ]


async def test_a_guard_records_an_offboarded_employee_leaving_by_hand(site: SiteView) -> None:
    dave = await site.pass_of("dave")
    await site.connect_device()
    assert await scan(site, dave, "Lobby turnstile in") == (True, "ok")
    assert (await site.client("hr").ok(OFFBOARD, {"id": site.people["dave"]}))["offboardEmployee"]["errors"] == []

    async def manual(gate: str, direction: str) -> dict[str, Any]:
        entry = {
            "personId": site.people["dave"],
            "gateId": site.gate(gate),
            "direction": direction,
            "documentType": "WORK_BADGE",
            "documentNumberLast4": demo_id_number("dave")[-4:],
            "note": "phone handed back to HR",
        }
        payload: dict[str, Any] = (await site.client("guard").ok(MANUAL_ENTRY, {"input": entry}))["recordManualEntry"]
        assert payload["errors"] == [], payload
        return payload["event"]

    assert (await manual("Lobby turnstile in", "IN"))["reason"] == "revoked"
    out = await manual("Lobby turnstile out", "OUT")
    assert out == {
        "id": out["id"],
        "method": "MANUAL",
        "decision": "GRANTED",
        "reason": "exit_after_revocation",
        "direction": "OUT",
        "person": {"displayName": "Dave Zhou"},
    }
    assert "Dave Zhou" not in await muster(site)
    assert [a["gate"]["name"] for a in await alerts(site, "exit_after_revocation")] == ["Lobby turnstile out"]
    # Out already: another OUT is not a passage the site can record.
    assert (await manual("Lobby turnstile out", "OUT"))["decision"] == "DENIED"


async def test_a_visitor_whose_visit_ended_inside_walks_out_through_both_doors(site: SiteView) -> None:
    visitor = await checked_in(site, name="Victor Visitor", zones=("Engineering office",))
    phone = FreshPass()
    await phone.phone.bind(GraphQLClient(site.server, visitor.token))
    await site.connect_device()
    assert await scan(site, phone, "Lobby turnstile in") == (True, "ok")
    assert await scan(site, phone, "Engineering door", "IN") == (True, "ok")

    ended = (await ok(site.server, "EndVisit", {"id": visitor.visit_id}, site.tokens["alice"]))["endVisit"]
    assert ended == {"visit": {"id": visitor.visit_id, "status": "CHECKED_OUT"}, "errors": []}

    skip_steps(site, 3)  # three steps no gate has seen, without waiting for them
    assert await scan(site, phone, "Engineering door", "IN") == (False, "revoked")
    assert await scan(site, phone, "Engineering door", "OUT") == (True, "exit_after_revocation")
    assert await scan(site, phone, "Lobby turnstile out") == (True, "exit_after_revocation")
    assert "Victor Visitor" not in await muster(site)
    assert len(await alerts(site, "exit_after_revocation")) == 2


# --------------------------------------------------------------------------- 2. the muster list


async def test_the_roll_call_keeps_people_whose_access_ended_inside_until_a_guard_confirms(site: SiteView) -> None:
    alice, bob = await site.pass_of("alice"), await site.pass_of("bob")
    visitor = await checked_in(site, name="Victor Visitor", zones=("Engineering office",))
    victor = FreshPass()
    await victor.phone.bind(GraphQLClient(site.server, visitor.token))
    await site.connect_device()
    assert await scan(site, alice, "Lobby turnstile in") == (True, "ok")
    assert await scan(site, bob, "Lobby turnstile in") == (True, "ok")
    assert await scan(site, victor, "Lobby turnstile in") == (True, "ok")
    assert await scan(site, victor, "Engineering door", "IN") == (True, "ok")

    victor_id = (await GraphQLClient(site.server, visitor.token).ok("{ me { id } }"))["me"]["id"]
    ended = (await ok(site.server, "EndVisit", {"id": visitor.visit_id}, site.tokens["alice"]))["endVisit"]
    assert ended["errors"] == [], ended
    assert (await site.client("hr").ok(OFFBOARD, {"id": site.people["bob"]}))["offboardEmployee"]["errors"] == []

    roll = await muster(site)
    assert roll["Alice Li"] == inside("Lobby")
    for name, zones, what in (
        ("Victor Visitor", ["Engineering office", "Lobby"], "visit checked out"),
        ("Bob Wang", ["Lobby"], "offboarded"),
    ):
        line = roll[name]
        assert (line["zones"], line["status"], line["ended"]) == (zones, "CHECKED_OUT_WITHOUT_EXIT", True), line
        assert line["note"].startswith(what) and "no exit passage" in line["note"], line
    assert set(roll) == {"Alice Li", "Victor Visitor", "Bob Wang"}
    # A zone's roll call keeps them too.
    assert (await muster(site, "Engineering office"))["Victor Visitor"]["status"] == "CHECKED_OUT_WITHOUT_EXIT"

    # The guard finds Victor at the assembly point and confirms he left: an OUT passage on record.
    guard = site.client("guard")
    note = "seen at the assembly point by Gao"
    confirmed = (await guard.ok(CONFIRM_LEFT, {"input": {"personId": victor_id, "note": note}}))["confirmLeft"]
    assert confirmed["errors"] == [], confirmed
    event = confirmed["event"]
    assert {k: v for k, v in event.items() if k != "id"} == {
        "method": "MANUAL",
        "decision": "GRANTED",
        "reason": "confirmed_left",
        "direction": "OUT",
        "gate": {"name": "Lobby turnstile out"},  # the exit of the outermost zone he was in
        "person": {"displayName": "Victor Visitor"},
    }
    roll = await muster(site)
    assert set(roll) == {"Alice Li", "Bob Wang"}
    # Nothing to confirm twice; the audit trail says who confirmed.
    again = (await guard.ok(CONFIRM_LEFT, {"input": {"personId": victor_id, "note": note}}))["confirmLeft"]
    assert (again["event"], [e["code"] for e in again["errors"]]) == (None, ["CONFLICT"])
    audit = (await site.client("admin").ok(AUDIT, {"t": victor_id}))["auditLog"]["edges"]
    assert {"actorName": "Gao Guard", "action": "confirmLeft"} in [e["node"] for e in audit]

    # Through a named gate: Bob, out of the lobby by its OUT turnstile; an IN gate is no exit.
    refused = (
        await guard.ok(
            CONFIRM_LEFT,
            {"input": {"personId": site.people["bob"], "note": note, "gateId": site.gate("Lobby turnstile in")}},
        )
    )["confirmLeft"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID", "gateId")]
    out = (
        await guard.ok(
            CONFIRM_LEFT,
            {"input": {"personId": site.people["bob"], "note": note, "gateId": site.gate("Lobby turnstile out")}},
        )
    )["confirmLeft"]
    assert out["errors"] == [] and out["event"]["reason"] == "confirmed_left", out
    assert set(await muster(site)) == {"Alice Li"}
    # Only gate staff confirm.
    forbidden = await site.client("alice")(CONFIRM_LEFT, {"input": {"personId": site.people["alice"], "note": note}})
    assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]


# --------------------------------------------------------------------------- 11. devices in service


async def test_a_device_opens_doors_only_while_in_service(site: SiteView) -> None:
    admin = site.client("admin")
    eng = site.gate("Engineering door")  # anti-passback OFF: Alice may come in again and again
    alice = await site.pass_of("alice")
    # The demo's own device is commissioned.
    assert {"id": site.demo.device_id, "status": "COMMISSIONED"} in (await admin.ok(DEVICES))["devices"]

    registered = (await admin.ok(REGISTER, {"name": "Second engineering scanner", "g": [eng]}))["registerDevice"]
    device_id, secret = registered["device"]["id"], registered["deviceSecret"]
    assert registered["device"]["status"] == "REGISTERED"

    async def decide() -> tuple[bool, str]:
        skip_steps(site, 1)  # a step of Alice's pass no gate has seen, without waiting for it
        async with connected(Gate(site.server, device_id, secret)) as gate:
            reply = await gate.scan(eng, await alice.fresh(), "IN")
        assert ("open" in reply) is reply["granted"] and ("person" in reply) is reply["granted"], reply
        return reply["granted"], reply["reason"]

    assert await decide() == (False, "device_not_in_service")
    # Commissioned as an installer does (it needs no offline snapshot): then it opens.
    await commission_device(admin, device_id, secret, eng)
    assert await decide() == (True, "ok")

    async def set_status(status: str) -> None:
        moved = (await admin.ok(SET_STATUS, {"id": device_id, "s": status}))["setDeviceStatus"]
        assert moved == {"device": {"status": status}, "errors": []}, moved

    await set_status("IN_SERVICE")
    assert await decide() == (True, "ok")
    await set_status("UNDER_REPAIR")
    assert await decide() == (False, "device_not_in_service")
    await set_status("IN_SERVICE")
    assert await decide() == (True, "ok")

    # Every refusal is a gate event that names nobody.
    events = (await admin.ok(GATE_EVENTS, {"g": eng}))["gateEvents"]["edges"]
    refusals = [e["node"] for e in events if e["node"]["reason"] == "device_not_in_service"]
    # Alice's scan before commissioning, the installer's test scan, Alice's scan under repair.
    assert refusals == [{"reason": "device_not_in_service", "decision": "DENIED", "person": None}] * 3

    # A guard's remote open goes only to a device in service (the demo device is not connected).
    async with connected(Gate(site.server, device_id, secret)) as gate:
        await set_status("UNDER_REPAIR")
        refused = (await site.client("guard").ok(REMOTE_OPEN, {"g": eng}))["remoteOpen"]
        assert refused == {"event": None, "errors": [{"code": "UNAVAILABLE"}]}, refused
        await set_status("IN_SERVICE")
        opened = (await site.client("guard").ok(REMOTE_OPEN, {"g": eng}))["remoteOpen"]
        assert opened == {"event": {"reason": "remote_open"}, "errors": []}, opened
        assert (await gate.recv_type("command"))["command"] == "open"


async def test_a_device_put_under_repair_on_one_server_stops_opening_on_the_other_at_once(
    scale_site: Site,
) -> None:
    s0, s1 = scale_site.servers
    assert scale_site.demo is not None
    demo = scale_site.demo
    admin0 = GraphQLClient(s0, demo=demo, as_="admin")
    eng = demo.gates["Engineering door"]
    alice = FreshPass()
    await alice.phone.bind(GraphQLClient(s0, demo=demo, as_="alice"))
    async with connected(Gate(s1, demo.device_id, demo.device_secret)) as gate:
        first = await gate.scan(eng, await alice.fresh(), "IN")
        assert (first["granted"], first["reason"]) == (True, "ok"), first
        for status, expected in (("IN_SERVICE", (True, "ok")), ("UNDER_REPAIR", (False, "device_not_in_service"))):
            moved = (await admin0.ok(SET_STATUS, {"id": demo.device_id, "s": status}))["setDeviceStatus"]
            assert moved["errors"] == [], moved
            # Decided on the other process right after the answer came back.
            reply = await gate.scan(eng, await alice.fresh(), "IN")
            assert (reply["granted"], reply["reason"]) == expected, reply


async def test_a_device_not_in_service_is_given_no_one_to_admit_offline(site: SiteView) -> None:
    """Offline too a device opens doors only in service: its snapshot (it needs one to be
    commissioned) names no credential until then, and again as soon as it goes under repair."""
    admin = site.client("admin")
    eng = site.gate("Engineering door")
    alice = await site.pass_of("alice")
    registered = (await admin.ok(REGISTER, {"name": "Offline engineering scanner", "g": [eng]}))["registerDevice"]
    device_id, secret = registered["device"]["id"], registered["deviceSecret"]

    def holders(frame: dict[str, Any]) -> set[str]:
        return {c["cid"] for c in frame["snapshot"]["credentials"]}

    async with connected(OfflineGate(site.server, device_id, secret)) as gate:
        assert holders(await gate.recv_type("snapshot")) == set()
    await commission_device(admin, device_id, secret, eng, OfflineGate)
    async with connected(OfflineGate(site.server, device_id, secret)) as gate:
        assert alice.cid in holders(await gate.recv_type("snapshot"))
        for status, held in (("IN_SERVICE", True), ("UNDER_REPAIR", False)):
            moved = (await admin.ok(SET_STATUS, {"id": device_id, "s": status}))["setDeviceStatus"]
            assert moved["errors"] == [], moved
            # The change reaches the connected device as a fresh snapshot.
            assert (alice.cid in holders(await gate.recv_type("snapshot"))) is held
