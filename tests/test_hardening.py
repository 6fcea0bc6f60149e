"""Inputs that once crashed a request or a device connection, and rules that once leaked."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from api.demo import make_prc_id
from tests.harness import Demo, Gate, GraphQLClient, Phone, ServerProcess

OFFBOARD = "mutation($id: ID!) { offboardEmployee(id: $id) { employee { id } errors { code field } } }"
MANUAL = """mutation($i: ManualEntryInput!) { recordManualEntry(input: $i) {
  event { decision method direction } errors { code field } } }"""
LOCKDOWN = 'mutation($z: ID) { lockdown(zoneId: $z, reason: "drill") { lockdown { id } errors { code } } }'


async def test_unicode_digits_are_not_ids(api: GraphQLClient, demo: Demo) -> None:
    admin = await api.login("admin", demo.passwords["admin"])
    answer = await admin(OFFBOARD, {"id": "²"})
    assert answer.get("errors") is None, answer
    assert answer["data"]["offboardEmployee"]["errors"] == [{"code": "NOT_FOUND", "field": "id"}]


async def test_bad_frames_of_every_type_keep_the_connection(server: ServerProcess, demo: Demo) -> None:
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        for frame in (
            {"type": "ack", "id": "c-²"},
            {"type": "door", "gateId": "²", "state": "opened"},
            {
                "type": "item",
                "ref": "i-1",
                "gateId": demo.gates["Lobby turnstile out"],
                "code": "GHI1:AAAAAAAAB:ÄÄÄÄÄÄÄÄ",
            },
            {"type": "scan", "ref": "s-1", "gateId": "²", "credential": "GH1:X"},
        ):
            await gate.send(frame)
        await gate.send(
            {
                "type": "scan",
                "ref": "alive",
                "gateId": demo.gates["Lobby turnstile in"],
                "credential": "GH1:NOT-A-TOKEN",
            }
        )
        deadline = time.monotonic() + 10
        while True:
            reply = await gate.recv(max(0.1, deadline - time.monotonic()))
            if reply.get("ref") == "alive":
                break
        assert (reply["type"], reply["granted"], reply["reason"]) == ("decision", False, "malformed")
    finally:
        await gate.close()


async def test_manual_entry_respects_lockdown_and_the_requested_direction(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await api.login("guard", demo.passwords["guard"])
    admin = await api.login("admin", demo.passwords["admin"])
    people = (await admin.ok("{ people(first: 50) { edges { node { id username } } } }"))["people"]["edges"]
    alice = next(e["node"]["id"] for e in people if e["node"]["username"] == "alice")
    last4 = make_prc_id("110101", "19840101", "104")[-4:]
    entry = {
        "personId": alice,
        "gateId": demo.gates["Lobby turnstile in"],
        "direction": "OUT",
        "documentType": "ID_CARD",
        "documentNumberLast4": last4,
    }
    wrong_way = await guard.ok(MANUAL, {"i": entry})
    assert wrong_way["recordManualEntry"]["errors"] == [{"code": "INVALID", "field": "direction"}]
    zones = (await admin.ok("{ zones { id name } }"))["zones"]
    lobby = next(z["id"] for z in zones if z["name"] == "Lobby")
    assert (await guard.ok(LOCKDOWN, {"z": lobby}))["lockdown"]["errors"] == []
    locked = await guard.ok(MANUAL, {"i": {**entry, "direction": "IN"}})
    assert locked["recordManualEntry"] == {
        "event": {"decision": "DENIED", "method": "MANUAL", "direction": "IN"},
        "errors": [],
    }


async def test_an_offline_upload_cannot_name_a_person_it_cannot_prove(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice = await api.login("alice", demo.passwords["alice"])
    admin = await api.login("admin", demo.passwords["admin"])
    phone = Phone()
    await phone.bind(alice)
    forger = Phone()
    forger.cid = phone.cid  # the cid is printed in every QR alice shows; the key is not
    gate = Gate(server, demo.device_id, demo.device_secret)
    await gate.connect()
    try:
        event = {
            "seq": 1,
            "gateId": demo.gates["Lobby turnstile in"],
            "at": datetime.now(UTC).isoformat(),
            "credential": forger.token(),
            "granted": True,
            "reason": "ok",
            "direction": "IN",
        }
        await gate.send({"type": "events", "ref": "up-1", "events": [event]})
        ack = await gate.recv_type("events_ack")
        assert (ack["stored"], ack["duplicates"]) == (1, 0)
    finally:
        await gate.close()
    log = await admin.ok("{ gateEvents(first: 5) { edges { node { offline person { displayName } } } } }")
    assert log["gateEvents"]["edges"] == [{"node": {"offline": True, "person": None}}]
