"""The device fleet (POLICY 5, 6.1): many gates at once, lockdowns, lifecycle, health, maintenance.

Real `gatehouse serve` processes on the demo site, real WebSocket gate connections and the
GraphQL API as the console and the guard app use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets
from gatehouse_gate import passtoken
from websockets.exceptions import ConnectionClosed

from api.demo import make_prc_id
from tests.harness import (
    Demo,
    Gate,
    GraphQLClient,
    Phone,
    ServerProcess,
    Site,
    commission_device,
    connected,
    drop_postgres_database,
    eventually,
    http_client,
)

PERIOD = passtoken.DEFAULT_PERIOD

REGISTER_DEVICE = """
mutation($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id status } deviceSecret errors { code message field } }
}
"""
ONBOARD = """
mutation($input: OnboardEmployeeInput!) {
  onboardEmployee(input: $input) { employee { id displayName } initialPassword errors { code message field } }
}
"""
LOGIN = """
mutation($u: String!, $p: String!) { login(username: $u, password: $p) { session { accessToken } errors { code } } }
"""
BIND_PHONE = """
mutation($k: String!) { bindPhone(publicKey: $k, deviceName: "exit test phone") { credential { id } errors { code } } }
"""
EVENT_PAGE = """
query($first: Int!, $after: String, $gateId: ID) {
  gateEvents(first: $first, after: $after, gateId: $gateId) {
    edges { node { id reason decision offline direction gate { id } person { displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
LOCKDOWN_FIELDS = "lockdown { id mode zone { id } gate { id } reason releasedAt } errors { code message field }"
LOCKDOWN = f"mutation($z: ID!, $r: String!) {{ lockdown(zoneId: $z, reason: $r) {{ {LOCKDOWN_FIELDS} }} }}"
EVACUATE = f"mutation($z: ID!, $r: String!) {{ evacuate(zoneId: $z, reason: $r) {{ {LOCKDOWN_FIELDS} }} }}"
RELEASE = f"mutation($id: ID!) {{ releaseLockdown(id: $id) {{ {LOCKDOWN_FIELDS} }} }}"
LOCKDOWNS = "{ lockdowns { id mode zone { id } gate { id } reason releasedAt } }"
DEVICE_FIELDS = "device { id status retired } deviceSecret errors { code message field }"
COMMISSION = f"mutation($id: ID!) {{ commissionDevice(id: $id) {{ {DEVICE_FIELDS} }} }}"
SET_STATUS = f"mutation($id: ID!, $s: DeviceStatus!) {{ setDeviceStatus(id: $id, status: $s) {{ {DEVICE_FIELDS} }} }}"
ROTATE = f"mutation($id: ID!) {{ rotateDeviceSecret(id: $id) {{ {DEVICE_FIELDS} }} }}"
RETIRE = f"mutation($id: ID!) {{ retireDevice(id: $id) {{ {DEVICE_FIELDS} }} }}"
HEALTH = """
query($id: ID!) {
  deviceHealth(deviceId: $id) { windowMinutes scans decodeFailures decodeSuccess decisions deniedRatio problems }
}
"""
SET_TARGET = """
mutation($min: Float) {
  setDeviceTarget(kind: QR_SCANNER, minDecodeSuccess: $min) {
    target { kind minDecodeSuccess } errors { code message field }
  }
}
"""
PLAN_FIELDS = "plan { id device { id } kind intervalDays nextDue } errors { code message field }"
ADD_PLAN = f"""
mutation($d: ID!, $k: MaintenanceKind!, $i: Int!, $f: Int) {{
  addMaintenancePlan(deviceId: $d, kind: $k, intervalDays: $i, firstDueDays: $f) {{ {PLAN_FIELDS} }}
}}
"""
RECORD_MAINTENANCE = """
mutation($d: ID!, $k: MaintenanceKind!, $p: ID, $n: String) {
  recordMaintenance(deviceId: $d, kind: $k, planId: $p, notes: $n) {
    record { id device { id } kind doneAt notes } errors { code message field }
  }
}
"""
OVERDUE = "{ overdueMaintenance { edges { node { id device { id } kind intervalDays nextDue } } } }"
PLANS = (
    "query($d: ID) { maintenancePlans(deviceId: $d) { edges { node { id device { id } kind intervalDays nextDue } } } }"
)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


async def login(api: GraphQLClient, demo: Demo, username: str) -> GraphQLClient:
    """The demo user (signed in once, on the session's template)."""
    return GraphQLClient(api.server, demo=demo, as_=username)


async def register_device(
    admin: GraphQLClient, name: str, gate_ids: list[str], commission: bool = True
) -> tuple[str, str]:
    """A new device (REGISTERED), commissioned as an installer would unless told not to."""
    data = await admin.ok(REGISTER_DEVICE, {"input": {"name": name, "kind": "QR_SCANNER", "gateIds": gate_ids}})
    payload = data["registerDevice"]
    assert payload["errors"] == [], payload
    assert payload["device"]["status"] == "REGISTERED", payload
    if commission:
        await commission_device(admin, payload["device"]["id"], payload["deviceSecret"], gate_ids[0])
    return payload["device"]["id"], payload["deviceSecret"]


async def zone_id(client: GraphQLClient, name: str) -> str:
    zones = (await client.ok("{ zones { id name } }"))["zones"]
    [zone] = [z["id"] for z in zones if z["name"] == name]
    return str(zone)


def nodes(connection: dict[str, Any]) -> list[Any]:
    """The rows of a connection's page."""
    return [edge["node"] for edge in connection["edges"]]


def forbidden(body: dict[str, Any]) -> bool:
    return body.get("data") is None and [e["extensions"]["code"] for e in body.get("errors", [])] == ["FORBIDDEN"]


class Tokens:
    """Distinct tokens of bound phones: each (credential, step) is shown once, within the accepted window."""

    def __init__(self) -> None:
        self.used: set[tuple[str, int]] = set()

    def next(self, phone: Phone) -> str:
        assert phone.cid is not None
        current = passtoken.current_step(phone.time(), PERIOD)
        for step in (current, current + 1):
            if (phone.cid, step) not in self.used:
                self.used.add((phone.cid, step))
                return passtoken.sign(phone.cid, step, phone.key)
        raise AssertionError("test design: this phone has no unused step left in the window")


def stranger_token() -> str:
    """A well-formed, correctly signed token of a credential the server never issued."""
    phone = Phone()
    phone.cid = passtoken.new_cid()
    return phone.token()


async def settle_into_step(server: ServerProcess, min_left: float) -> float:
    """Now, at the start of a step (the server's clock moves just past the next boundary), so at
    least `min_left` seconds of it remain however slow the machine is."""
    assert server.clock is not None and min_left < PERIOD
    return server.clock.start_of_step(PERIOD)


async def close_code(ws: Any, timeout: float = 10) -> int | None:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return ws.close_code


async def connect_refused_with(server: ServerProcess, device_id: str, secret: str) -> int | None:
    async with websockets.connect(server.ws + "/devices/ws") as ws:
        await ws.send(f'{{"type": "hello", "deviceId": "{device_id}", "secret": "{secret}", "firmware": "t"}}')
        return await close_code(ws)


async def next_commands(gate: Gate, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The next `count` command frames (including any already set aside in `pending`)."""
    commands = [f for f in gate.pending if f.get("type") == "command"]
    gate.pending = [f for f in gate.pending if f.get("type") != "command"]
    deadline = time.monotonic() + timeout
    while len(commands) < count:
        commands.append(await gate.recv_type("command", max(0.01, deadline - time.monotonic())))
    assert len(commands) == count, commands
    return commands


async def ack_all(gate: Gate, commands: list[dict[str, Any]]) -> None:
    for command in commands:
        await gate.send({"type": "ack", "id": command["id"]})


def assert_denied(reply: dict[str, Any], reason: str) -> None:
    assert (reply["type"], reply["granted"], reply["reason"]) == ("decision", False, reason), reply
    assert "open" not in reply and "person" not in reply, reply


def assert_granted(reply: dict[str, Any], gate_id: str, name: str) -> None:
    assert (reply["type"], reply["granted"], reply["reason"]) == ("decision", True, "ok"), reply
    assert reply["person"] == {"displayName": name}, reply
    assert reply["open"] == {"gateId": gate_id, "durationMs": 3000}, reply


async def events_at(client: GraphQLClient, gate_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.ok(EVENT_PAGE, {"first": 100, "after": after, "gateId": gate_id}))["gateEvents"]
        events += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return events
        after = page["pageInfo"]["endCursor"]


# ---------------------------------------------------------------------------
# 200 devices drop and come back at once: no event lost, none doubled (POLICY 6.1)
# ---------------------------------------------------------------------------

DEVICES = 200
EMPLOYEES = 68  # three usable steps each: 204 distinct valid tokens for the first round


async def test_200_devices_reconnecting_at_once_lose_no_event(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    exit_gate = demo.gates["Lobby turnstile out"]  # OUT: anyone with a valid pass may leave
    admin = await login(api, demo, "admin")

    async with http_client(base_url=server.http, timeout=30) as http:

        async def call(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            body = (await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()
            assert not body.get("errors"), body
            return body["data"]

        devices: list[tuple[str, str]] = []
        for i in range(DEVICES + 1):
            payload = (
                await call(
                    REGISTER_DEVICE,
                    {"input": {"name": f"Exit scanner {i:03d}", "kind": "QR_SCANNER", "gateIds": [exit_gate]}},
                    admin.token,
                )
            )["registerDevice"]
            assert payload["errors"] == [], payload
            devices.append((payload["device"]["id"], payload["deviceSecret"]))
        # Each is commissioned as an installer would (one test scan each), twenty at a time.
        installers = asyncio.Semaphore(20)

        async def install(device_id: str, secret: str) -> None:
            async with installers:
                await commission_device(admin, device_id, secret, exit_gate)

        await asyncio.wait_for(asyncio.gather(*(install(d, s) for d, s in devices)), 120)
        departments = (await call("{ departments { id name } }", {}, admin.token))["departments"]
        [engineering] = [d["id"] for d in departments if d["name"] == "Engineering"]
        phones: list[tuple[Phone, str]] = []
        for i in range(EMPLOYEES):
            name = f"Exit Tester {i:03d}"
            onboarded = (
                await call(
                    ONBOARD,
                    {
                        "input": {
                            "displayName": name,
                            "idNumber": make_prc_id("320102", "19910101", f"{i:03d}"),
                            "phone": "+8613900000000",
                            "departmentId": engineering,
                            "position": "Engineer",
                            "username": f"exit{i:03d}",
                        }
                    },
                    admin.token,
                )
            )["onboardEmployee"]
            assert onboarded["errors"] == [], onboarded
            session = (await call(LOGIN, {"u": f"exit{i:03d}", "p": onboarded["initialPassword"]}))["login"]
            phone = Phone()
            bound = (await call(BIND_PHONE, {"k": phone.public_key}, session["session"]["accessToken"]))["bindPhone"]
            assert bound["errors"] == [], bound
            phone.cid = bound["credential"]["id"]
            phones.append((phone, name))

    watcher = Gate(server, *devices.pop())  # a separate device that keeps scanning throughout
    gates = [Gate(server, device_id, secret) for device_id, secret in devices]
    await asyncio.wait_for(asyncio.gather(*(g.connect() for g in gates), watcher.connect()), 60)

    # Round one: each device scans a distinct valid token. Steps −1, 0 and +1 are accepted only
    # while this step lasts, so start with enough of it left.
    now = await settle_into_step(server, min_left=10)
    step = passtoken.current_step(now, PERIOD)
    plan = [(phone, name, s) for s in (step - 1, step, step + 1) for phone, name in phones][:DEVICES]
    first_frames = [
        {
            "type": "scan",
            "ref": f"exit-{g.device_id}-1",
            "gateId": exit_gate,
            "credential": passtoken.sign(phone.cid or "", s, phone.key),
        }
        for g, (phone, _, s) in zip(gates, plan, strict=True)
    ]
    first = await asyncio.wait_for(
        asyncio.gather(
            *(g.scan(f["gateId"], f["credential"], ref=f["ref"]) for g, f in zip(gates, first_frames, strict=True))
        ),
        30,
    )
    for reply, (_, name, _) in zip(first, plan, strict=True):
        assert_granted(reply, exit_gate, name)

    # Meanwhile: a guard console keeps asking, and another device keeps scanning.
    stop = asyncio.Event()
    me_answers: list[str] = []
    watched: list[dict[str, Any]] = []

    async def ask_me() -> None:
        async with http_client(base_url=server.http, timeout=10) as http:
            while not stop.is_set():
                r = await http.post(
                    "/graphql",
                    json={"query": "{ me { username } }"},
                    headers={"Authorization": f"Bearer {admin.token}"},
                )
                assert r.status_code == 200, r.text
                me_answers.append(r.json()["data"]["me"]["username"])
                await asyncio.sleep(0.02)

    async def keep_scanning() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            reply = await asyncio.wait_for(watcher.scan(exit_gate, f"WATCH-NOT-A-PASS-{n:05d}"), 10)
            watched.append(reply)

    background = [asyncio.create_task(ask_me()), asyncio.create_task(keep_scanning())]
    try:
        # The console and the watcher are both at work ...
        await eventually(lambda: bool(me_answers and watched), 30, "the background traffic to start")
        # ... when every device loses its link at once, without a close handshake ...
        for g in gates:
            g.ws.transport.abort()
        # ... and all come back at once: the first scan again (same ref), then a new one.
        second_tokens = [stranger_token() for _ in gates]

        async def come_back(g: Gate, frame: dict[str, Any], token: str) -> tuple[dict[str, Any], dict[str, Any]]:
            await g.connect()
            again = await g.scan(frame["gateId"], frame["credential"], ref=frame["ref"])
            new = await g.scan(exit_gate, token, ref=f"exit-{g.device_id}-2")
            return again, new

        second = await asyncio.wait_for(
            asyncio.gather(*(come_back(g, f, t) for g, f, t in zip(gates, first_frames, second_tokens, strict=True))),
            45,
        )
        # ... and the console and the watcher kept going throughout (at least five answers each).
        await eventually(lambda: len(me_answers) >= 5 and len(watched) >= 5, 30, "five answers of each kind")
    finally:
        stop.set()
        results = await asyncio.gather(*background, return_exceptions=True)
    assert [r for r in results if r is not None] == [], results

    for (again, new), earlier in zip(second, first, strict=True):
        assert again == earlier  # the same decision, word for word
        assert_denied(new, "unknown_credential")
    assert len(me_answers) >= 5 and set(me_answers) == {"admin"}, me_answers
    assert len(watched) >= 5, watched
    for reply in watched:
        assert_denied(reply, "malformed")

    with contextlib.suppress(Exception):
        await asyncio.gather(*(asyncio.wait_for(g.close(), 5) for g in [*gates, watcher]))
    events = await events_at(admin, exit_gate)
    reasons = Counter(e["reason"] for e in events)
    installs = DEVICES + 1  # every device's commissioning test scan, the watcher's too
    assert reasons == {
        "ok": DEVICES,
        "unknown_credential": DEVICES,
        "malformed": len(watched),
        "device_not_in_service": installs,
    }, reasons
    assert len(events) == 2 * DEVICES + len(watched) + installs
    assert Counter(e["person"]["displayName"] for e in events if e["reason"] == "ok") == Counter(
        name for _, name, _ in plan
    )
    assert {(e["decision"], e["direction"], e["offline"]) for e in events if e["reason"] == "ok"} == {
        ("GRANTED", "OUT", False)
    }


# ---------------------------------------------------------------------------
# Lockdown, release, evacuation; commands resent until acknowledged
# ---------------------------------------------------------------------------


@pytest.fixture
def fast_upkeep_server(sqlite_site: Site) -> ServerProcess:
    """A server whose fleet upkeep (command retries) runs every second instead of every 5 s."""
    return sqlite_site.start_server(GATEHOUSE_UPKEEP_SECONDS="1")


async def test_lockdown_release_and_evacuation_reach_every_device_of_the_zone(
    fast_upkeep_server: ServerProcess, demo: Demo
) -> None:
    server = fast_upkeep_server
    api = GraphQLClient(server)
    admin, guard = await login(api, demo, "admin"), await login(api, demo, "guard")
    lobby = await zone_id(guard, "Lobby")
    lobby_in, lobby_out, eng = (
        demo.gates[n] for n in ("Lobby turnstile in", "Lobby turnstile out", "Engineering door")
    )
    eng_device = await register_device(admin, "Engineering door scanner", [eng])
    phones: dict[str, Phone] = {}
    for username in ("alice", "bob", "carol", "dave", "hr", "security"):
        phones[username] = Phone()
        await phones[username].bind(await login(api, demo, username))
    tokens = Tokens()

    def token(username: str) -> str:
        return tokens.next(phones[username])

    async with (
        connected(Gate(server, demo.device_id, demo.device_secret)) as main,
        connected(Gate(server, *eng_device)) as door,
    ):
        # Lockdown of the lobby and everything inside it.
        started = (await guard.ok(LOCKDOWN, {"z": lobby, "r": "intruder reported"}))["lockdown"]
        assert started["errors"] == [], started
        lockdown = started["lockdown"]
        assert {k: lockdown[k] for k in ("mode", "zone", "gate", "reason", "releasedAt")} == {
            "mode": "LOCKDOWN",
            "zone": {"id": lobby},
            "gate": None,
            "reason": "intruder reported",
            "releasedAt": None,
        }
        main_commands = await next_commands(main, 6)
        assert sorted(c["gateId"] for c in main_commands) == sorted(demo.gates.values())
        assert {(c["type"], c["command"], c["reason"]) for c in main_commands} == {
            ("command", "lockdown", "intruder reported")
        }
        await ack_all(main, main_commands)
        [door_command] = await next_commands(door, 1)
        sent_at = time.monotonic()
        assert {k: v for k, v in door_command.items() if k != "id"} == {
            "type": "command",
            "command": "lockdown",
            "gateId": eng,
            "reason": "intruder reported",
        }
        # (the door device does not acknowledge yet: the command must come again)

        assert (await guard.ok(LOCKDOWNS))["lockdowns"] == [lockdown]
        assert_denied(await main.scan(lobby_in, token("alice")), "lockdown")
        assert_denied(await main.scan(lobby_out, token("bob")), "lockdown")
        assert_denied(await door.scan(eng, token("carol"), "IN"), "lockdown")
        assert_denied(await door.scan(eng, token("dave"), "OUT"), "lockdown")

        [again] = await next_commands(door, 1, timeout=9)
        waited = time.monotonic() - sent_at
        assert again == door_command, (again, door_command)  # the same command id
        assert 4 <= waited <= 7.5, waited
        await ack_all(door, [again])

        # Release: the devices hear it and scans work again.
        released = (await guard.ok(RELEASE, {"id": lockdown["id"]}))["releaseLockdown"]
        assert released["errors"] == [] and released["lockdown"]["releasedAt"] is not None, released
        main_commands = await next_commands(main, 6)
        assert {(c["command"], c["gateId"]) for c in main_commands} == {("release", g) for g in demo.gates.values()}
        await ack_all(main, main_commands)
        door_commands = await next_commands(door, 1)
        assert [(c["command"], c["gateId"]) for c in door_commands] == [("release", eng)]
        await ack_all(door, door_commands)
        assert (await guard.ok(LOCKDOWNS))["lockdowns"] == []
        assert_granted(await main.scan(lobby_in, token("alice")), lobby_in, "Alice Li")
        assert_granted(await door.scan(eng, token("carol"), "IN"), eng, "Carol Chen")

        # Evacuation: every gate of the zone is held open; nobody enters, everybody may leave.
        started = (await guard.ok(EVACUATE, {"z": lobby, "r": "fire alarm"}))["evacuate"]
        assert started["errors"] == [], started
        evacuation = started["lockdown"]
        assert (evacuation["mode"], evacuation["zone"]) == ("EVACUATION", {"id": lobby})
        main_commands = await next_commands(main, 6)
        door_commands = await next_commands(door, 1)
        for command, gate in [(c, c["gateId"]) for c in main_commands + door_commands]:
            assert {k: v for k, v in command.items() if k != "id"} == {
                "type": "command",
                "command": "open",
                "gateId": gate,
                "durationMs": 0,
                "hold": True,
                "reason": "fire alarm",
            }
        assert sorted(c["gateId"] for c in main_commands) == sorted(demo.gates.values())
        await ack_all(main, main_commands)
        await ack_all(door, door_commands)
        assert (await guard.ok(LOCKDOWNS))["lockdowns"] == [evacuation]
        assert_denied(await main.scan(lobby_in, token("bob")), "lockdown")
        assert_denied(await door.scan(eng, token("security"), "IN"), "lockdown")
        assert_granted(await main.scan(lobby_out, token("hr")), lobby_out, "Hana HR")
        assert_granted(await door.scan(eng, token("dave"), "OUT"), eng, "Dave Zhou")

        released = (await guard.ok(RELEASE, {"id": evacuation["id"]}))["releaseLockdown"]
        assert released["errors"] == [], released
        await ack_all(main, await next_commands(main, 6))
        await ack_all(door, await next_commands(door, 1))
        # An acknowledged command is not sent again.
        assert [f for f in door.pending if f.get("id") == door_command["id"]] == []


# ---------------------------------------------------------------------------
# Lifecycle: registered → commissioned (checklist) → in service ⇄ under repair → retired
# ---------------------------------------------------------------------------


async def test_device_lifecycle_commissioning_rotation_and_retirement(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    eng = demo.gates["Engineering door"]
    admin = await login(api, demo, "admin")
    phone = Phone()
    await phone.bind(await login(api, demo, "alice"))
    device_id, secret = await register_device(admin, "Lifecycle scanner", [eng], commission=False)

    async def commission() -> dict[str, Any]:
        payload: dict[str, Any] = (await admin.ok(COMMISSION, {"id": device_id}))["commissionDevice"]
        return payload

    async def set_status(status: str) -> dict[str, Any]:
        payload: dict[str, Any] = (await admin.ok(SET_STATUS, {"id": device_id, "s": status}))["setDeviceStatus"]
        return payload

    def refused(payload: dict[str, Any], message: str, field: str | None = None) -> None:
        assert payload["device"] is None, payload
        assert payload["errors"] == [{"code": "NOT_ALLOWED", "message": message, "field": field}], payload

    checklist = "the commissioning checklist is not complete: "
    refused(await commission(), checklist + "network reached, configuration loaded, test scan decided")
    refused(await set_status("IN_SERVICE"), "a REGISTERED device cannot become IN_SERVICE", "status")

    gate = Gate(server, device_id, secret)
    gate.ws = await websockets.connect(server.ws + "/devices/ws")
    hello = {"type": "hello", "deviceId": device_id, "secret": secret, "firmware": "t", "capabilities": ["offline"]}
    await gate.send(hello)
    assert (await gate.recv())["type"] == "welcome"
    snapshot = await gate.recv_type("snapshot")
    refused(await commission(), checklist + "configuration loaded, test scan decided")
    await gate.send({"type": "snapshot_ack", "issuedAt": snapshot["snapshot"]["issuedAt"]})
    await gate.send({"type": "no-such-frame", "ref": "barrier"})  # answered after the ack is handled
    assert (await gate.recv_type("error"))["ref"] == "barrier"
    refused(await commission(), checklist + "test scan decided")
    # The test scan is decided and recorded, but a device not yet commissioned opens nothing.
    test_scan = await gate.scan(eng, phone.token(), "IN")
    assert (test_scan["granted"], test_scan["reason"]) == (False, "device_not_in_service"), test_scan

    # The test scan is recorded just after its answer is sent (the gate is not kept waiting for it):
    # commissioning succeeds once it is (a refused commissioning changes nothing).
    done: dict[str, Any] = {}

    async def commissioned() -> bool:
        nonlocal done
        done = await commission()
        return done["errors"] == [] or done["errors"][0]["message"] != checklist + "test scan decided"

    await eventually(commissioned, 10, "the test scan recorded")
    assert done == {
        "device": {"id": device_id, "status": "COMMISSIONED", "retired": False},
        "deviceSecret": None,
        "errors": [],
    }
    refused(await set_status("UNDER_REPAIR"), "a COMMISSIONED device cannot become UNDER_REPAIR", "status")
    for status in ("IN_SERVICE", "UNDER_REPAIR", "IN_SERVICE"):
        moved = await set_status(status)
        assert moved["errors"] == [] and moved["device"]["status"] == status, moved
    refused(await set_status("RETIRED"), "a IN_SERVICE device cannot become RETIRED", "status")

    # A new secret: the live connection is closed, the old secret refused, the new one works.
    rotated = (await admin.ok(ROTATE, {"id": device_id}))["rotateDeviceSecret"]
    assert rotated["errors"] == [] and rotated["device"]["status"] == "IN_SERVICE", rotated
    new_secret = rotated["deviceSecret"]
    assert isinstance(new_secret, str) and len(new_secret) >= 16 and new_secret != secret
    assert await close_code(gate.ws) == 4401
    assert await connect_refused_with(server, device_id, secret) == 4401
    live = await Gate(server, device_id, new_secret).connect()
    assert [g["id"] for g in live.welcome["gates"]] == [eng]

    # Retired: the live connection is closed and the device is refused from now on.
    retired = (await admin.ok(RETIRE, {"id": device_id}))["retireDevice"]
    assert retired == {
        "device": {"id": device_id, "status": "RETIRED", "retired": True},
        "deviceSecret": None,
        "errors": [],
    }
    assert await close_code(live.ws) == 4401
    assert await connect_refused_with(server, device_id, new_secret) == 4401
    refused((await admin.ok(ROTATE, {"id": device_id}))["rotateDeviceSecret"], "a retired device has no secret")
    refused(await commission(), "a RETIRED device cannot be commissioned")
    refused(await set_status("IN_SERVICE"), "a RETIRED device cannot become IN_SERVICE", "status")
    devices = {d["id"]: d for d in (await admin.ok("{ devices { id status retired online } }"))["devices"]}
    assert devices[device_id] == {"id": device_id, "status": "RETIRED", "retired": True, "online": False}


# ---------------------------------------------------------------------------
# Health against targets (POLICY 5.2)
# ---------------------------------------------------------------------------


async def test_heartbeat_counters_give_decode_success_checked_against_target(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    admin = await login(api, demo, "admin")
    guard = await login(api, demo, "guard")
    maintenance = demo.gates["Maintenance door"]
    device_id, secret = await register_device(admin, "Dusty scanner", [maintenance], commission=False)
    async with connected(Gate(server, device_id, secret)) as gate:
        await gate.send(
            {"type": "heartbeat", "at": "2026-11-27T08:00:00Z", "stats": {"scans": 100, "decodeFailures": 10}}
        )
        await gate.send(
            {"type": "heartbeat", "at": "2026-11-27T08:00:30Z", "stats": {"scans": 200, "decodeFailures": 30}}
        )

        # Heartbeats are stored beside the frames that follow (a scan never waits for one): wait
        # for the second's totals (a newer heartbeat may replace one not yet stored: same totals).
        async def both_stored() -> bool:
            return (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]["scans"] == 200

        await eventually(both_stored, 10, "both heartbeats stored")

    health = (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]
    assert health == {
        "windowMinutes": 60,
        "scans": 200,
        "decodeFailures": 30,
        "decodeSuccess": pytest.approx(0.85),
        "decisions": 0,
        "deniedRatio": None,
        "problems": ["decode success 85.0% below 98.0%"],
    }
    target = (await admin.ok(SET_TARGET, {"min": 0.5}))["setDeviceTarget"]
    assert target == {"target": {"kind": "QR_SCANNER", "minDecodeSuccess": 0.5}, "errors": []}
    health = (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]
    assert (health["decodeSuccess"], health["problems"]) == (pytest.approx(0.85), [])
    bad = (await admin.ok(SET_TARGET, {"min": 1.5}))["setDeviceTarget"]
    assert (bad["target"], [e["code"] for e in bad["errors"]]) == (None, ["INVALID"]), bad


# ---------------------------------------------------------------------------
# Maintenance plans (POLICY 5.3)
# ---------------------------------------------------------------------------


async def test_maintenance_plan_overdue_until_done(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    admin = await login(api, demo, "admin")
    guard = await login(api, demo, "guard")
    device = demo.device_id
    added = (await admin.ok(ADD_PLAN, {"d": device, "k": "CLEANING", "i": 30, "f": 0}))["addMaintenancePlan"]
    assert added["errors"] == [], added
    plan = added["plan"]
    assert (plan["device"], plan["kind"], plan["intervalDays"]) == ({"id": device}, "CLEANING", 30)
    later = (await admin.ok(ADD_PLAN, {"d": device, "k": "CALIBRATION", "i": 90, "f": None}))["addMaintenancePlan"]
    assert later["errors"] == [], later
    assert nodes((await guard.ok(OVERDUE))["overdueMaintenance"]) == [plan]

    recorded = (await guard.ok(RECORD_MAINTENANCE, {"d": device, "k": "CLEANING", "p": plan["id"], "n": "lens wiped"}))[
        "recordMaintenance"
    ]
    assert recorded["errors"] == [], recorded
    assert (recorded["record"]["device"], recorded["record"]["notes"]) == ({"id": device}, "lens wiped")
    done_at = datetime.fromisoformat(recorded["record"]["doneAt"])
    assert nodes((await guard.ok(OVERDUE))["overdueMaintenance"]) == []
    plans = {p["id"]: p for p in nodes((await guard.ok(PLANS, {"d": device}))["maintenancePlans"])}
    assert datetime.fromisoformat(plans[plan["id"]]["nextDue"]) - done_at == timedelta(days=30)
    assert datetime.fromisoformat(plans[plan["id"]]["nextDue"]) > datetime.fromisoformat(plan["nextDue"])

    for interval, first_due, field in (
        (0, None, "intervalDays"),
        (3651, None, "intervalDays"),
        (7, -1, "firstDueDays"),
    ):
        bad = (await admin.ok(ADD_PLAN, {"d": device, "k": "INSPECTION", "i": interval, "f": first_due}))[
            "addMaintenancePlan"
        ]
        assert bad["plan"] is None, bad
        assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID", field)], bad
    assert len(nodes((await guard.ok(PLANS, {"d": device}))["maintenancePlans"])) == 2


# ---------------------------------------------------------------------------
# Who may do what
# ---------------------------------------------------------------------------


async def test_fleet_operations_refused_to_roles_without_them(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice = await login(api, demo, "alice")
    guard = await login(api, demo, "guard")
    lobby = await zone_id(guard, "Lobby")
    assert forbidden(await alice(LOCKDOWN, {"z": lobby, "r": "because"}))
    assert forbidden(await alice(EVACUATE, {"z": lobby, "r": "because"}))
    assert forbidden(await alice(COMMISSION, {"id": demo.device_id}))
    assert forbidden(await guard(RETIRE, {"id": demo.device_id}))
    assert forbidden(await guard(ROTATE, {"id": demo.device_id}))
    assert forbidden(await guard(COMMISSION, {"id": demo.device_id}))
    # Nothing happened.
    assert (await guard.ok(LOCKDOWNS))["lockdowns"] == []
    devices = (await guard.ok("{ devices { id status } }"))["devices"]
    assert devices == [{"id": demo.device_id, "status": "COMMISSIONED"}]
    async with connected(Gate(server, demo.device_id, demo.device_secret)) as gate:  # the secret still works
        assert gate.welcome["deviceId"] == demo.device_id


REMOTE_OPEN = 'mutation($g: ID!) { remoteOpen(gateId: $g, reason: "visitor at the door") { errors { code } } }'


async def test_unacknowledged_command_is_resent_within_6_s_with_default_settings(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    async with connected(Gate(server, demo.device_id, demo.device_secret)) as gate:
        # A first command, never acknowledged, shows when an upkeep round runs ...
        assert (await guard.ok(REMOTE_OPEN, {"g": demo.gates["Lobby turnstile in"]}))["remoteOpen"]["errors"] == []
        [first] = await next_commands(gate, 1)
        [resent] = await next_commands(gate, 1, timeout=12)
        assert resent["id"] == first["id"]
        await ack_all(gate, [first])
        # ... and a second command, sent half a second after that round, is timed.
        await asyncio.sleep(0.5)
        assert (await guard.ok(REMOTE_OPEN, {"g": demo.gates["Lobby turnstile out"]}))["remoteOpen"]["errors"] == []
        [second] = await next_commands(gate, 1)
        sent_at = time.monotonic()
        [again] = await next_commands(gate, 1, timeout=12)
        waited = time.monotonic() - sent_at
        await ack_all(gate, [second])
    assert again["id"] == second["id"]
    assert waited <= 6, f"resent after {waited:.1f} s"


FLEET_ALERTS = 'query { alerts(first: 50, kind: "below_target") { edges { node { kind message deviceId } } } }'


async def test_the_fleet_check_alerts_each_device_below_target_once_and_no_other(
    fast_upkeep_server: ServerProcess, demo: Demo
) -> None:
    # The upkeep reads the whole fleet's health at once (issue 13: a campus of 10,000 gates): each
    # device must still be judged on its own samples.
    server = fast_upkeep_server
    api = GraphQLClient(server)
    admin, guard = await login(api, demo, "admin"), await login(api, demo, "guard")
    maintenance = demo.gates["Maintenance door"]
    # Their counters are stored before they are commissioned (the fleet check watches them from
    # then on): a check between the commissioning's refused test scan and the counters would see
    # only the denials, and its alert, one per episode, would not name the decode failures.
    dusty = await register_device(admin, "Dusty scanner", [maintenance], commission=False)
    clean = await register_device(admin, "Clean scanner", [maintenance], commission=False)
    for (device_id, secret), failures in ((dusty, 30), (clean, 1)):
        async with connected(Gate(server, device_id, secret)) as gate:
            await gate.send({"type": "heartbeat", "at": "2026-11-27T08:00:00Z", "stats": {"scans": 0}})
            await gate.send(
                {"type": "heartbeat", "at": "2026-11-27T08:00:30Z", "stats": {"scans": 200, "decodeFailures": failures}}
            )

            async def stored(device_id: str = device_id) -> bool:  # beside the frames that follow them
                return (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]["scans"] == 200

            await eventually(stored, 10, "both heartbeats stored")
        await commission_device(admin, device_id, secret, maintenance)

    async def alerted() -> list[dict[str, Any]]:
        edges = (await guard.ok(FLEET_ALERTS))["alerts"]["edges"]
        return [e["node"] for e in edges]

    # The whole fleet's check says what each device's own health report says (one alert per episode).
    expected = []
    for (device_id, _), name in ((dusty, "Dusty scanner"), (clean, "Clean scanner")):
        problems = (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]["problems"]
        if problems:
            expected.append((device_id, f"device {name}: " + "; ".join(problems)))
    assert any("decode success 85.0% below 98.0%" in message for _, message in expected), expected
    assert all("decode success" not in message for device_id, message in expected if device_id == clean[0])

    async def as_expected() -> bool:
        return sorted((n["deviceId"], n["message"]) for n in await alerted()) == sorted(expected)

    await eventually(as_expected, 15, f"alerts {expected}")


OFFLINE_ALERTS = 'query { alerts(first: 50, kind: "offline") { edges { node { message deviceId } } } }'


async def test_the_fleet_check_alerts_a_silent_device_offline_not_a_connected_one(
    sqlite_site: Site, fast_upkeep_server: ServerProcess, demo: Demo
) -> None:
    server = fast_upkeep_server
    api = GraphQLClient(server)
    admin, guard = await login(api, demo, "admin"), await login(api, demo, "guard")
    maintenance = demo.gates["Maintenance door"]
    gone = await register_device(admin, "Gone scanner", [maintenance])
    staying = await register_device(admin, "Staying scanner", [maintenance])
    async with connected(Gate(server, *gone)):
        pass
    async with connected(Gate(server, *staying)) as gate:
        sqlite_site.clock.advance(4 * 30)  # past 3 heartbeats of silence (the server's clock)

        async def alerted() -> set[str]:
            edges = (await guard.ok(OFFLINE_ALERTS))["alerts"]["edges"]
            return {e["node"]["deviceId"] for e in edges}

        async def gone_alerted() -> bool:
            return gone[0] in await alerted()

        await eventually(gone_alerted, 15, "the silent device's offline alert")
        await gate.send({"type": "no-such-frame", "ref": "still here"})
        assert (await gate.recv_type("error"))["ref"] == "still here"
        assert staying[0] not in await alerted()


async def test_a_device_silent_for_three_heartbeats_is_closed_and_alerted_the_others_stay(
    sqlite_site: Site, demo: Demo
) -> None:
    # One watchdog watches every connection of the process (a campus has 10,000): it must close
    # the silent one (4408, an alert) and leave the one that keeps its heartbeats alone.
    server = sqlite_site.start_server(GATEHOUSE_HEARTBEAT_SECONDS="1")
    api = GraphQLClient(server, demo=demo)
    admin, guard = await login(api, demo, "admin"), await login(api, demo, "guard")
    maintenance = demo.gates["Maintenance door"]
    quiet = await register_device(admin, "Quiet scanner", [maintenance])
    beating = await register_device(admin, "Beating scanner", [maintenance])
    async with connected(Gate(server, *quiet)) as silent, connected(Gate(server, *beating)) as alive:
        assert alive.welcome["heartbeatSeconds"] == 1

        async def heartbeats() -> None:
            # What a device does: a heartbeat per interval its welcome gave (here twice per interval).
            while True:
                await alive.send({"type": "heartbeat", "at": "2026-11-27T08:00:00Z", "stats": {"scans": 0}})
                await asyncio.sleep(0.5)

        beats = asyncio.create_task(heartbeats())
        try:
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(20):
                    while True:
                        await silent.ws.recv()
            assert silent.ws.close_code == 4408
            await alive.send({"type": "no-such-frame", "ref": "still here"})
            assert (await alive.recv_type("error"))["ref"] == "still here"
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
    edges = (await guard.ok(OFFLINE_ALERTS))["alerts"]["edges"]
    messages = {e["node"]["deviceId"]: e["node"]["message"] for e in edges}
    assert messages.get(quiet[0]) == "device Quiet scanner sent nothing for 3 s", messages
    assert beating[0] not in messages


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_heartbeats_stored_in_separate_batches_count_from_each_other(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Heartbeats are stored in group commits (one statement per batch, each backend its own SQL):
    # the second batch reads the counters the first wrote.
    if backend == "postgres":
        site = await request.getfixturevalue("postgres_template").postgres_copy(tmp_path)
    else:
        site = request.getfixturevalue("demo_template").sqlite_copy(tmp_path)
    try:
        await _heartbeat_batches(site)
    finally:
        await asyncio.to_thread(site.stop)
        if backend == "postgres":
            await drop_postgres_database(site.database_url)


async def _heartbeat_batches(site: Site) -> None:
    server = site.start_server()
    assert site.demo is not None
    demo = site.demo
    api = GraphQLClient(server, demo=demo)
    admin = await login(api, demo, "admin")
    guard = await login(api, demo, "guard")
    device_id, secret = await register_device(admin, "Busy scanner", [demo.gates["Maintenance door"]])
    async with connected(Gate(server, device_id, secret)) as gate:
        for n, (scans, failures) in enumerate(((100, 10), (300, 12))):
            beat = {
                "type": "heartbeat",
                "at": "2026-11-27T08:00:00Z",
                "stats": {"scans": scans, "decodeFailures": failures},
            }
            await gate.send(beat)

            async def stored(scans: int = scans) -> bool:  # stored beside the frames that follow it
                return (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]["scans"] == scans

            await eventually(stored, 10, f"heartbeat {n} stored")
    health = (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]
    assert (health["scans"], health["decodeFailures"]) == (300, 12)  # 100 + 200, 10 + 2

    async def last_seen() -> datetime:
        devices = (await guard.ok("{ devices { id lastSeenAt } }"))["devices"]
        [seen] = [d["lastSeenAt"] for d in devices if d["id"] == device_id]
        assert seen is not None
        return datetime.fromisoformat(seen)

    seen = await last_seen()
    assert seen.tzinfo is not None
    assert await _health_samples(site, int(device_id)) == 2
    # An idle gate's heartbeat (the same totals) says it is alive and stores no sample of nothing:
    # a campus's idle thousands wrote a row each, 333 a second.
    async with connected(Gate(server, device_id, secret)) as gate:
        await gate.send(
            {"type": "heartbeat", "at": "2026-11-27T08:01:00Z", "stats": {"scans": 300, "decodeFailures": 12}}
        )

        async def seen_again() -> bool:
            return await last_seen() > seen

        await eventually(seen_again, 10, "the idle heartbeat stored")
    assert await _health_samples(site, int(device_id)) == 2
    health = (await guard.ok(HEALTH, {"id": device_id}))["deviceHealth"]
    assert (health["scans"], health["decodeFailures"]) == (300, 12)


async def _health_samples(site: Site, device_id: int) -> int:
    sql = "SELECT count(*) FROM device_health_sample WHERE device_id = "
    if site.database_url.startswith("sqlite://"):
        with contextlib.closing(sqlite3.connect(site.database_url.removeprefix("sqlite://"))) as db:
            return int(db.execute(sql + "?", (device_id,)).fetchone()[0])
    conn = await asyncpg.connect(site.database_url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await conn.fetchval(sql + "$1", device_id))
    finally:
        await conn.close()


async def test_a_scan_after_a_heartbeat_is_answered_while_the_heartbeat_waits_for_the_database(
    postgres_site: Site,
) -> None:
    """A heartbeat is stored by the campus's heartbeat group commit, which can wait on the database;
    the gate's next scan must not wait with it (issue 13: the campus scan p99 was 0.14-0.5 s while
    heartbeats held each gate's frames). The device's row is locked from outside, so the heartbeat's
    UPDATE waits; the scan's event (whose foreign key only shares the row's key) goes through."""
    import asyncpg

    server = postgres_site.start_server()
    demo = postgres_site.demo
    assert demo is not None
    api = GraphQLClient(server, demo=demo)
    guard = api.user("guard")
    phone = Phone()
    await phone.bind(api.user("alice"))
    lobby_in = demo.gates["Lobby turnstile in"]
    holder = await asyncpg.connect(postgres_site.database_url.replace("postgres://", "postgresql://", 1))
    try:
        async with connected(Gate(server, demo.device_id, demo.device_secret)) as gate:
            # Locked once connected (the hello stores when the device was seen on that row too).
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute('SELECT 1 FROM "device" WHERE "id" = $1 FOR NO KEY UPDATE', int(demo.device_id))
            await gate.send({"type": "heartbeat", "at": "2026-11-27T08:00:00Z", "stats": {"scans": 7}})
            reply = await asyncio.wait_for(gate.scan(lobby_in, phone.token()), 5)
            assert reply["granted"] is True, reply
            health = (await guard.ok(HEALTH, {"id": demo.device_id}))["deviceHealth"]
            assert health["scans"] == 0, "the heartbeat was stored through a locked row?"
            await transaction.rollback()

            async def stored() -> bool:  # and once the row is free, the heartbeat is stored
                return (await guard.ok(HEALTH, {"id": demo.device_id}))["deviceHealth"]["scans"] == 7

            await eventually(stored, 10, "the heartbeat stored once the row was free")
    finally:
        await holder.close()
